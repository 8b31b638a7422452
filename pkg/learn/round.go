package learn

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// EventTypeAnomaly is the event_type of the event published to
// aiprod-events when a backend's signal turns anomalous or back to normal.
const EventTypeAnomaly = "backend.anomaly"

// The states of an AnomalyEvent.
const (
	AnomalyStarted = "started"
	AnomalyEnded   = "ended"
)

// AnomalyEvent announces that a backend's signal turned anomalous
// (State "started") or back to normal ("ended"):
//
//	{"type":"backend.anomaly","backend":"fal","signal":"latency","state":"started",
//	 "value":31.2,"baseline":2.1,"score":27.4,"unit":"s","samples":58,
//	 "since":"2026-12-05T10:15:00Z","at":"2026-12-05T10:15:00Z"}
//
// Value is the signal over the last RecentWindows windows, Baseline its
// median over the windows before them (latency: geometric mean generation
// time, seconds; error_rate: failures over attempts; cost_accuracy: actual
// cost over estimate), Score the robust z-score, Samples the recent
// attempts (successes, for latency and cost accuracy) behind Value.
type AnomalyEvent struct {
	Type     string  `json:"type"`
	Backend  string  `json:"backend"`
	Signal   string  `json:"signal"`
	State    string  `json:"state"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Score    float64 `json:"score"`
	Unit     string  `json:"unit"`
	Samples  int     `json:"samples"`
	// Stale is set on an end without a judgement: the backend had no
	// attempt for StaleAfter (drained, or no longer chosen); Value, Baseline
	// and Score are then those the anomaly started with.
	Stale bool      `json:"stale,omitempty"`
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
}

// Unit returns the unit of signal's values in events: "s" or "ratio".
func Unit(signal string) string {
	if signal == SignalLatency {
		return "s"
	}
	return "ratio"
}

// Folder is the usage roller's fold (budget.RollerConfig.Fold: its
// FoldRound): it learns each backend's figures from the round's entries
// and judges the backends it learned of for anomalies (Detect). The zero
// value learns and judges without announcing.
type Folder struct {
	// Events, when set, receives a backend.anomaly event (AnomalyEvent)
	// for every anomaly that started or ended, once the round committed.
	Events queue.Publisher
	// Metrics gets the aiprod_backend_anomaly gauge of every signal
	// judged. Nil: metrics.Default().
	Metrics *metrics.Recorder
	Logger  *slog.Logger // nil: slog.Default()

	mu sync.Mutex
	// open are the backends this Folder last saw with anomalies: judged in
	// every round, with entries or not, so that one that gets no more
	// traffic ends as stale (StaleAfter) instead of staying anomalous.
	open map[string]bool
}

// FoldRound runs inside the round's transaction: it reads the stats of
// every backend that entries teach something about (and of those this
// Folder saw anomalous), folds the entries in, judges their signals at
// now, and returns the writes to make once every read of the transaction
// is done, and what to do once it committed: announce the anomalies that
// started or ended, set the gauges. A round of a backend thus costs one
// read and one write, whatever its number of entries; a backend without
// entries is written only when an anomaly of its ended.
//
// An anomaly is announced at most once: recorded in the stats document in
// the round's transaction, then published; a publish that fails is logged,
// not retried.
func (f *Folder) FoldRound(tx store.Tx, entries []store.LedgerEntry, now time.Time) (func() error, func(context.Context), error) {
	byBackend := map[string][]Observation{}
	for _, e := range entries {
		if o := FromEntry(e); o.Outcome != Ignored {
			byBackend[o.Backend] = append(byBackend[o.Backend], o)
		}
	}
	names := f.openBackends()
	for n := range byBackend {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]store.BackendStats, 0, len(names))
	var changes []Change
	for _, n := range names {
		st, err := tx.GetBackendStats(n)
		if err != nil {
			return nil, nil, fmt.Errorf("learn: read the stats of %s: %w", n, err)
		}
		for _, o := range byBackend[n] {
			Fold(&st, o)
		}
		c := Detect(&st, now)
		changes = append(changes, c...)
		if len(byBackend[n]) == 0 && len(c) == 0 {
			continue // nothing learned, nothing changed
		}
		st.UpdatedAt = now
		out = append(out, st)
	}
	write := func() error {
		for _, st := range out {
			if err := tx.PutBackendStats(st); err != nil {
				return fmt.Errorf("learn: write the stats of %s: %w", st.Backend, err)
			}
		}
		return nil
	}
	return write, func(ctx context.Context) { f.committed(ctx, out, changes, now) }, nil
}

// openBackends returns the backends f last saw with anomalies.
func (f *Folder) openBackends() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.open))
	for n := range f.open {
		out = append(out, n)
	}
	return out
}

// committed sets the gauges of the backends of a committed round and
// announces its changes.
func (f *Folder) committed(ctx context.Context, stats []store.BackendStats, changes []Change, now time.Time) {
	f.mu.Lock()
	for _, st := range stats {
		if f.open == nil {
			f.open = map[string]bool{}
		}
		if len(st.Anomalies) > 0 {
			f.open[st.Backend] = true
		} else {
			delete(f.open, st.Backend)
		}
	}
	f.mu.Unlock()
	for _, st := range stats {
		for _, s := range Signals {
			anomalous := slices.ContainsFunc(st.Anomalies, func(a store.Anomaly) bool { return a.Signal == s })
			f.Metrics.BackendAnomaly(ctx, st.Backend, s, anomalous)
		}
	}
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	for _, c := range changes {
		ev := AnomalyEvent{Type: EventTypeAnomaly, Backend: c.Backend, Signal: c.Signal, State: AnomalyEnded,
			Value: c.Value, Baseline: c.Baseline, Score: c.Score, Unit: Unit(c.Signal), Samples: c.Samples,
			Stale: c.Stale, Since: c.Since.UTC(), At: now.UTC()}
		if c.Started {
			ev.State = AnomalyStarted
		}
		log.WarnContext(ctx, "backend anomaly", "backend", ev.Backend, "signal", ev.Signal, "state", ev.State,
			"value", ev.Value, "baseline", ev.Baseline, "score", ev.Score, "samples", ev.Samples)
		if f.Events == nil {
			continue
		}
		if err := queue.PublishEvent(ctx, telemetry.Traced(f.Events), EventTypeAnomaly, "", ev); err != nil {
			log.ErrorContext(ctx, "announce a backend anomaly", "backend", ev.Backend, "signal", ev.Signal, "error", err)
		}
	}
}
