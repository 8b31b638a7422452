package learn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// traffic is a backend's attempts: per minute, how many, and what they
// look like.
type traffic struct {
	perMinute int
	gen       float64 // median generation time, seconds (log-normal, σ 0.3)
	failRate  float64
	costRatio float64 // mean; each ±3%
}

var normal = traffic{perMinute: 4, gen: 30, failRate: 0.03, costRatio: 1}

// run folds the attempts of tr from from for d into st, a minute at a
// time, judging st at the end of every minute (as the roller does, every
// round); it returns the changes in order.
func run(st *store.BackendStats, rng *rand.Rand, tr traffic, from time.Time, d time.Duration) []learn.Change {
	var changes []learn.Change
	for m := time.Duration(0); m < d; m += time.Minute {
		for i := range tr.perMinute {
			at := from.Add(m + time.Duration(i)*time.Minute/time.Duration(tr.perMinute))
			o := learn.Observation{Backend: st.Backend, Shape: std5, At: at, Outcome: learn.Success,
				CostRatio: tr.costRatio * (0.97 + 0.06*rng.Float64())}
			if rng.Float64() < tr.failRate {
				o.Outcome = learn.Failure
			} else {
				o.Generation = time.Duration(tr.gen * math.Exp(0.3*rng.NormFloat64()) * float64(time.Second))
			}
			learn.Fold(st, o)
		}
		changes = append(changes, learn.Detect(st, from.Add(m+time.Minute))...)
	}
	return changes
}

func signalsOf(changes []learn.Change) []string {
	var out []string
	for _, c := range changes {
		state := "ended"
		if c.Started {
			state = "started"
		}
		out = append(out, c.Signal+" "+state)
	}
	return out
}

// A day of normal traffic, judged every minute, raises nothing, whatever
// the seed: the thresholds sit far above sampling noise.
func TestAnomalyNoFalseAlarms(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		st := &store.BackendStats{Backend: "fal"}
		changes := run(st, rand.New(rand.NewPCG(seed, 1)), normal, t0, 24*time.Hour)
		require.Empty(t, signalsOf(changes), "seed %d", seed)
		require.Len(t, st.Windows, learn.KeepWindows+1, "12 hours of windows kept, plus the newest")
	}
}

// Each signal going bad starts its anomaly within the recent windows, with
// the figures that say so; back to normal, it ends.
func TestAnomalyEachSignal(t *testing.T) {
	t.Parallel()
	slow, failing, pricey, cheap := normal, normal, normal, normal
	slow.gen = 90
	failing.failRate = 0.4
	pricey.costRatio = 1.5
	cheap.costRatio = 0.6
	for _, tt := range []struct {
		bad             traffic
		signal          string
		value, baseline float64
	}{
		{slow, learn.SignalLatency, 90, 30},
		{failing, learn.SignalErrorRate, 0.4, 0.03},
		{pricey, learn.SignalCostAccuracy, 1.5, 1},
		{cheap, learn.SignalCostAccuracy, 0.6, 1},
	} {
		t.Run(tt.signal, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, 7))
			st := &store.BackendStats{Backend: "fal"}
			require.Empty(t, run(st, rng, normal, t0, 6*time.Hour))
			at := t0.Add(6 * time.Hour)
			changes := run(st, rng, tt.bad, at, 15*time.Minute)
			require.Equal(t, []string{tt.signal + " started"}, signalsOf(changes))
			c := changes[0]
			require.InEpsilon(t, tt.baseline, c.Baseline, 0.35, "baseline")
			lo, hi := min(tt.baseline, tt.value), max(tt.baseline, tt.value)
			require.True(t, c.Value > lo && c.Value < hi*1.2, "value %v: between the baseline and the bad traffic's", c.Value)
			require.GreaterOrEqual(t, c.Score, learn.StartScore)
			require.True(t, c.Since.After(at) && !c.Since.After(at.Add(15*time.Minute)), "started within the bad minutes: %s", c.Since)
			require.Len(t, st.Anomalies, 1)

			require.Empty(t, learn.Detect(st, at.Add(15*time.Minute)), "judged again: no new change")
			changes = run(st, rng, normal, at.Add(15*time.Minute), 30*time.Minute)
			require.Equal(t, []string{tt.signal + " ended"}, signalsOf(changes))
			require.Empty(t, st.Anomalies)
		})
	}
}

// The method is robust: an earlier incident in the baseline (30 minutes
// of 10× latency, 3 hours ago) neither hides a new, smaller one nor makes
// normal traffic look anomalous. A mean and standard deviation would be
// dragged by the incident (it would miss the 2× below); the median and
// MAD are not.
func TestAnomalyRobustToPastIncidents(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 3))
	st := &store.BackendStats{Backend: "fal"}
	incident := normal
	incident.gen = 300
	require.Empty(t, run(st, rng, normal, t0, 3*time.Hour))
	require.Equal(t, []string{"latency started"}, signalsOf(run(st, rng, incident, t0.Add(3*time.Hour), 30*time.Minute)))
	require.Equal(t, []string{"latency ended"}, signalsOf(run(st, rng, normal, t0.Add(3*time.Hour+30*time.Minute), 150*time.Minute)),
		"after the incident, normal traffic ends it and raises nothing")
	slower := normal
	slower.gen = 60
	changes := run(st, rng, slower, t0.Add(6*time.Hour), 15*time.Minute)
	require.Equal(t, []string{"latency started"}, signalsOf(changes), "2× slower is found despite the 10× in the baseline")
}

// A backend that gets no more attempts (drained, or no longer chosen) is
// not judged; after StaleAfter without any, its anomalies end as stale
// rather than stay open for ever.
func TestAnomalyEndsStaleWithoutTraffic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	st := &store.BackendStats{Backend: "fal"}
	slow := normal
	slow.gen = 120
	run(st, rng, normal, t0, 4*time.Hour)
	at := t0.Add(4 * time.Hour)
	require.Equal(t, []string{"latency started"}, signalsOf(run(st, rng, slow, at, 15*time.Minute)))
	last := at.Add(15 * time.Minute)
	require.Empty(t, learn.Detect(st, last.Add(learn.StaleAfter-learn.Window)), "under an hour without traffic: kept")
	changes := learn.Detect(st, last.Add(learn.StaleAfter))
	require.Len(t, changes, 1)
	require.True(t, changes[0].Stale)
	require.Equal(t, learn.SignalLatency, changes[0].Signal)
	require.Empty(t, st.Anomalies)
	require.Empty(t, learn.Detect(st, last.Add(2*learn.StaleAfter)), "ended once")
}

// Too few samples, recent or earlier, judge nothing: a quiet backend whose
// last few attempts failed is the circuit breaker's business.
func TestAnomalyNeedsSamples(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	quiet := normal
	quiet.perMinute = 1
	st := &store.BackendStats{Backend: "fal"}
	run(st, rng, quiet, t0, 6*time.Hour)
	down := quiet
	down.failRate = 1
	require.Empty(t, run(st, rng, down, t0.Add(6*time.Hour), 15*time.Minute), "15 attempts: under the 20 an error rate needs")
	for _, j := range learn.Judge(st, t0.Add(6*time.Hour+15*time.Minute)) {
		require.False(t, j.Judged, j.Signal)
	}

	fresh := &store.BackendStats{Backend: "new"}
	require.Empty(t, run(fresh, rng, down, t0, 20*time.Minute), "no baseline yet")
}

// published records what is published.
type published struct{ msgs []queue.Message }

func (p *published) Publish(_ context.Context, topic string, m queue.Message) (string, error) {
	if topic != queue.TopicEvents {
		return "", fmt.Errorf("published to %s", topic)
	}
	p.msgs = append(p.msgs, m)
	return "id", nil
}

// The roller's fold announces an anomaly once its round committed, and
// only then: a backend.anomaly event with the figures, and the state kept
// in the backend's stats so that the next round does not announce it
// again.
func TestFolderAnnouncesAnomalies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	q := &published{}
	f := &learn.Folder{Events: q}

	rng := rand.New(rand.NewPCG(1, 2))
	var stats store.BackendStats
	stats.Backend = "fal"
	run(&stats, rng, normal, t0, 4*time.Hour)
	stats.Anomalies = nil
	require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error { return tx.PutBackendStats(stats) }))

	now := t0.Add(4*time.Hour + 15*time.Minute)
	var slow []store.LedgerEntry
	for i := range 60 {
		e := entry(job.AttemptSucceeded, "", 120*time.Second, "0.6")
		e.At = t0.Add(4*time.Hour + time.Duration(i)*15*time.Second)
		slow = append(slow, e)
	}
	round := func(entries []store.LedgerEntry) func(context.Context) {
		var committed func(context.Context)
		require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error {
			write, c, err := f.FoldRound(tx, entries, now)
			if err != nil {
				return err
			}
			committed = c
			return write()
		}))
		return committed
	}
	committed := round(slow)
	require.Empty(t, q.msgs, "nothing published before the round committed")
	committed(ctx)
	require.Len(t, q.msgs, 1)
	m := q.msgs[0]
	require.Equal(t, learn.EventTypeAnomaly, m.Attr(queue.AttrEventType))
	var ev learn.AnomalyEvent
	require.NoError(t, json.Unmarshal(m.Data, &ev))
	require.Equal(t, "fal", ev.Backend)
	require.Equal(t, learn.SignalLatency, ev.Signal)
	require.Equal(t, learn.AnomalyStarted, ev.State)
	require.Equal(t, "s", ev.Unit)
	require.InEpsilon(t, 120, ev.Value, 0.01)
	require.InEpsilon(t, 30, ev.Baseline, 0.2)
	require.Equal(t, now, ev.At)

	saved, err := st.ListBackendStats(ctx)
	require.NoError(t, err)
	require.Len(t, saved[0].Anomalies, 1, "the state is kept with the stats")
	round(slow)(ctx) // the same judgement again: nothing new to announce
	require.Len(t, q.msgs, 1, "announced once")

	// Then no more attempts: rounds without entries still judge it (the
	// Folder remembers it is anomalous) and end it as stale after an hour;
	// a round with nothing to do writes nothing.
	now = now.Add(learn.StaleAfter + learn.Window)
	round(nil)(ctx)
	require.Len(t, q.msgs, 2)
	require.NoError(t, json.Unmarshal(q.msgs[1].Data, &ev))
	require.Equal(t, learn.AnomalyEnded, ev.State)
	require.True(t, ev.Stale)
	saved, err = st.ListBackendStats(ctx)
	require.NoError(t, err)
	require.Empty(t, saved[0].Anomalies)
	require.Equal(t, now, saved[0].UpdatedAt)

	now = now.Add(time.Hour)
	round(nil)(ctx)
	require.Len(t, q.msgs, 2, "nothing more to announce")
	saved, err = st.ListBackendStats(ctx)
	require.NoError(t, err)
	require.NotEqual(t, now, saved[0].UpdatedAt, "nothing written")
}
