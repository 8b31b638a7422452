package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// Defaults of RollerConfig.
const (
	RollIntervalDefault = time.Minute
	// RollLagDefault leaves the entries of the last two minutes to a later
	// round: an entry's At is taken inside its settlement transaction, which
	// commits a moment later, and clocks of processes differ a little.
	RollLagDefault   = 2 * time.Minute
	RollBatchDefault = 5000
	// maxDaysPerRound bounds the roll-ups one round writes (one project on
	// one day each), within Firestore's 500 writes per transaction; the
	// rest leaves room for the watermark and RollerConfig.Fold's writes
	// (learn.Folder.FoldRound: one per backend of the catalog).
	maxDaysPerRound = 400
	// maxRoundsPerTick bounds the rounds of one tick when catching up.
	maxRoundsPerTick = 100
)

// RollerConfig configures a Roller. Store is required.
type RollerConfig struct {
	Store store.Store
	// Interval is the time between two roll-ups (jittered ±10%). 0:
	// RollIntervalDefault.
	Interval time.Duration
	// Lag is how far behind now the watermark stays. 0: RollLagDefault.
	Lag time.Duration
	// Batch is the most ledger entries one round reads. 0: RollBatchDefault.
	Batch  int
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// Metrics gets the budget gauges of every project a round rolled up
	// entries of (see Recorder.Budget): reservations within one shard do
	// not know their project's totals, so the gauges are set here and
	// where a reservation gathers the shards. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// BudgetDefaults give the limit of projects without one, for the gauge
	// and the forecast.
	BudgetDefaults Defaults
	// Events, when set, receives the budget.forecast events: after a
	// round, each project it rolled up entries of is projected to the end
	// of the month (CheckForecast), at most once per ForecastEvery. Nil:
	// no forecast.
	Events queue.Publisher
	// ForecastEvery is how often, at most, one project is projected.
	// 0: ForecastEveryDefault.
	ForecastEvery time.Duration
	// LedgerEvents, when set, gets each rolled-up entry as a
	// cost.ledger_entry event, before its round commits (PublishLedger).
	LedgerEvents queue.Publisher
	// Fold, optional, also folds each round's entries into documents of
	// its own, in the round's transaction (so each entry is folded exactly
	// once, as it is rolled up): it makes its reads and returns its
	// writes, which run after the round's own, and, optionally, what to do
	// once the round committed (never for a round that raced or failed).
	// The router passes learn.Folder's FoldRound, which learns each
	// backend's figures and announces its anomalies.
	Fold func(tx store.Tx, entries []store.LedgerEntry, now time.Time) (write func() error, committed func(context.Context), err error)
}

// Roller keeps the ledger's daily roll-ups (store.DayUsage), which GET
// /v1/usage reads instead of the ledger. Every round it reads the ledger
// entries settled since the watermark (store.UsageReader.GetUsageWatermark)
// up to Lag before now, of every project, adds them to their projects'
// days in one transaction and moves the watermark: each entry is rolled up
// exactly once. Several rollers (one per router) may run: a round whose
// watermark another one moved first writes nothing. No settlement writes
// a roll-up, so a busy project has no hot usage document: its days are
// written once per round.
type Roller struct {
	cfg   RollerConfig
	log   *slog.Logger
	watch forecastWatch
}

// NewRoller returns a Roller.
func NewRoller(cfg RollerConfig) (*Roller, error) {
	if cfg.Store == nil {
		return nil, errors.New("budget: roller needs a store")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = RollIntervalDefault
	}
	if cfg.Lag <= 0 {
		cfg.Lag = RollLagDefault
	}
	if cfg.Batch <= 0 {
		cfg.Batch = RollBatchDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default()
	}
	if cfg.ForecastEvery <= 0 {
		cfg.ForecastEvery = ForecastEveryDefault
	}
	return &Roller{cfg: cfg, log: cfg.Logger}, nil
}

// RollResult is what one round did.
type RollResult struct {
	Entries  int       // ledger entries rolled up
	Days     int       // roll-ups written
	Through  time.Time // the watermark after the round
	CaughtUp bool      // the watermark reached now − Lag
	Raced    bool      // another roller moved the watermark first: nothing written
}

// errRaced ends a round's transaction when the watermark moved under it.
var errRaced = errors.New("usage watermark moved")

// Run rolls up every Interval until ctx ends, several rounds a tick while
// behind (a first start over an existing ledger catches up that way).
func (r *Roller) Run(ctx context.Context) error {
	t := time.NewTimer(retry.Jittered(r.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.tick(ctx)
		t.Reset(retry.Jittered(r.cfg.Interval))
	}
}

func (r *Roller) tick(ctx context.Context) {
	for range maxRoundsPerTick {
		res, err := r.RollUp(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.log.ErrorContext(ctx, "usage roll-up failed", "error", err)
			return
		case res.Entries > 0:
			r.log.DebugContext(ctx, "usage rolled up", "entries", res.Entries, "days", res.Days, "through", res.Through)
		}
		if res.CaughtUp || res.Raced {
			return
		}
	}
}

// RollUp runs one round: at most Batch entries, at most 400 project days.
func (r *Roller) RollUp(ctx context.Context) (RollResult, error) {
	st := r.cfg.Store
	from, err := st.GetUsageWatermark(ctx)
	if err != nil {
		return RollResult{}, err
	}
	end := store.NormalizeTime(r.cfg.Now().Add(-r.cfg.Lag))
	if !end.After(from) {
		return RollResult{Through: from, CaughtUp: true}, nil
	}
	entries, err := st.ListSettled(ctx, from, end, r.cfg.Batch+1)
	if err != nil {
		return RollResult{}, err
	}
	through, entries, err := cutRound(entries, end, r.cfg.Batch)
	if err != nil {
		return RollResult{}, err
	}
	if err := PublishLedger(ctx, r.cfg.LedgerEvents, entries); err != nil {
		return RollResult{}, fmt.Errorf("publish the ledger entries before %s: %w", through.Format(time.RFC3339Nano), err)
	}
	tally := NewTally()
	for _, e := range entries {
		tally.AddEntry(e)
	}
	now := r.cfg.Now()
	days := tally.Days(now)
	var committed func(context.Context) // the Fold's, of the attempt that committed
	err = st.RunTx(ctx, func(tx store.Tx) error {
		committed = nil
		fold := func() (func() error, error) { return nil, nil }
		if r.cfg.Fold != nil {
			fold = func() (func() error, error) {
				write, c, err := r.cfg.Fold(tx, entries, now)
				committed = c
				return write, err
			}
		}
		return applyRound(tx, from, through, days, fold)
	})
	if errors.Is(err, errRaced) {
		return RollResult{Raced: true}, nil
	}
	if err != nil {
		return RollResult{}, fmt.Errorf("roll up usage through %s: %w", through.Format(time.RFC3339Nano), err)
	}
	if committed != nil {
		committed(ctx)
	}
	r.reportBudgets(ctx, entries)
	r.watchForecasts(ctx, entries)
	return RollResult{Entries: len(entries), Days: len(days), Through: through, CaughtUp: through.Equal(end)}, nil
}

// reportBudgets sets the budget gauges of the projects of entries, for
// this month, from their periods read whole (ReadPeriod).
func (r *Roller) reportBudgets(ctx context.Context, entries []store.LedgerEntry) {
	period := PeriodOf(r.cfg.Now())
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.ProjectID] {
			continue
		}
		seen[e.ProjectID] = true
		p, _, err := ReadPeriod(ctx, r.cfg.Store, e.ProjectID, period)
		if err != nil {
			r.log.WarnContext(ctx, "budget gauges: read period", "project", e.ProjectID, "error", err)
			continue
		}
		b, err := r.cfg.Store.GetBudget(ctx, e.ProjectID)
		if err != nil {
			r.log.WarnContext(ctx, "budget gauges: read budget", "project", e.ProjectID, "error", err)
			continue
		}
		b, _ = r.cfg.BudgetDefaults.Apply(b)
		r.cfg.Metrics.Budget(ctx, e.ProjectID, p.Spent, p.Reserved, b.MonthlyLimit)
	}
}

// cutRound chooses how far a round goes: to end, or, when entries (sorted
// by At, at most batch+1 of them) hold more than batch entries or more
// than maxDaysPerRound project days, to the time of the first entry left
// out, so that a round takes every entry before its watermark and none
// after. It returns the watermark and the entries before it.
func cutRound(entries []store.LedgerEntry, end time.Time, batch int) (time.Time, []store.LedgerEntry, error) {
	cut := len(entries)
	if cut > batch {
		cut = batch
	}
	seen := map[dayOf]bool{}
	for i, e := range entries[:cut] {
		k := dayOf{e.ProjectID, Day(e.At)}
		if !seen[k] && len(seen) == maxDaysPerRound {
			cut = i
			break
		}
		seen[k] = true
	}
	if cut == len(entries) {
		return end, entries, nil
	}
	through := entries[cut].At
	for cut > 0 && !entries[cut-1].At.Before(through) {
		cut--
	}
	if cut == 0 {
		return time.Time{}, nil, fmt.Errorf("budget: more than %d ledger entries or %d project days settled at %s: cannot roll them up in one round",
			batch, maxDaysPerRound, through.Format(time.RFC3339Nano))
	}
	return through, entries[:cut], nil
}

// applyRound adds a round's days to their roll-ups and moves the
// watermark from from to through, in tx; errRaced when it is no longer at
// from. fold makes the reads of RollerConfig.Fold, after the round's, and
// returns its writes (nil: none), made after the round's.
func applyRound(tx store.Tx, from, through time.Time, days []store.DayUsage, fold func() (func() error, error)) error {
	cur, err := tx.GetUsageWatermark()
	if err != nil {
		return err
	}
	if !cur.Equal(from) {
		return errRaced
	}
	merged := make([]store.DayUsage, 0, len(days))
	for _, d := range days {
		old, err := tx.GetDayUsage(d.ProjectID, d.Day)
		if err != nil {
			return err
		}
		t := NewTally()
		t.AddDay(old)
		t.AddDay(d)
		merged = append(merged, t.Days(d.UpdatedAt)...)
	}
	write, err := fold()
	if err != nil {
		return err
	}
	for _, d := range merged {
		if err := tx.PutDayUsage(d); err != nil {
			return err
		}
	}
	if write != nil {
		if err := write(); err != nil {
			return err
		}
	}
	return tx.PutUsageWatermark(through)
}

// Usage tallies a project's settled usage in [from, to): the roll-ups of
// the whole days the range covers that are rolled up, plus the ledger
// entries of the rest (a part day at either end of the range, and what
// settled since the watermark, a few minutes). It reads at most 366
// roll-ups and never scans a whole range of the ledger.
func Usage(ctx context.Context, st store.Store, project string, from, to time.Time) (*Tally, error) {
	from, to = store.NormalizeTime(from), store.NormalizeTime(to)
	w, err := st.GetUsageWatermark(ctx)
	if err != nil {
		return nil, err
	}
	tally := NewTally()
	scan := func(a, b time.Time) error {
		if !a.Before(b) {
			return nil
		}
		entries, err := st.ListLedger(ctx, store.LedgerQuery{ProjectID: project, From: a, To: b})
		for _, e := range entries {
			tally.AddEntry(e)
		}
		return err
	}
	// Days from first on, each rolled up through min(its end, w), are
	// usable while that end is within the range.
	first := from.Truncate(24 * time.Hour)
	if first.Before(from) {
		first = first.Add(24 * time.Hour)
	}
	last := first
	for last.Before(w) && !minTime(last.Add(24*time.Hour), w).After(to) {
		last = last.Add(24 * time.Hour)
	}
	if last.Equal(first) {
		return tally, scan(from, to)
	}
	days, err := st.ListDayUsage(ctx, project, Day(first), Day(last))
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		tally.AddDay(d)
	}
	if err := scan(from, first); err != nil {
		return nil, err
	}
	return tally, scan(minTime(last, w), to)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
