package learn_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const std5 = "standard/720p/5s/t2v"

func TestShapes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tier    job.Tier
		res     job.Resolution
		seconds int
		i2v     bool
		want    string
	}{
		{job.TierStandard, job.Res720p, 5, false, std5},
		{job.TierStandard, job.Res720p, 1, false, std5},
		{job.TierDraft, job.Res540p, 6, true, "draft/540p/10s/i2v"},
		{job.TierPremium, job.Res4K, 20, false, "premium/4k/20s/t2v"},
		{job.TierPremium, job.Res1080p, 21, false, "premium/1080p/60s/t2v"},
	} {
		require.Equal(t, tt.want, learn.ShapeOf(tt.tier, tt.res, tt.seconds, tt.i2v).Key())
	}
	req := job.Request{Prompt: "p", DurationSeconds: 8, ImageURL: "https://example.com/a.png"}
	req.ApplyDefaults()
	require.Equal(t, "standard/720p/10s/i2v", learn.RequestShape(&req).Key())
}

func entry(status job.AttemptStatus, code string, gen time.Duration, cost string) store.LedgerEntry {
	return store.LedgerEntry{Backend: "fal", Seconds: 6, Status: status, ErrorCode: code, Generation: gen,
		Estimate: money.MustParse("0.60"), Cost: money.MustParse(cost), At: t0,
		Shape: store.Shape{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5}}
}

func TestFromEntry(t *testing.T) {
	t.Parallel()
	o := learn.FromEntry(entry(job.AttemptSucceeded, "", 41*time.Second, "0.66"))
	require.Equal(t, learn.Observation{Backend: "fal", Shape: std5, Outcome: learn.Success,
		Generation: 41 * time.Second, CostRatio: 1.1, At: t0}, o)
	for _, tt := range []struct {
		name string
		e    store.LedgerEntry
		want learn.Outcome
	}{
		{"unavailable", entry(job.AttemptFailed, job.CodeBackendUnavailable, 0, "0"), learn.Failure},
		{"timeout", entry(job.AttemptFailed, job.CodeTimeout, 0, "0"), learn.Failure},
		{"safety filter: the prompt's doing", entry(job.AttemptFailed, job.CodeContentRejected, 0, "0"), learn.Ignored},
		{"canceled by its caller", entry(job.AttemptCanceled, job.CodeCanceled, 0, "0.1"), learn.Ignored},
		{"entry from before shapes", func() store.LedgerEntry {
			e := entry(job.AttemptSucceeded, "", time.Second, "0.6")
			e.Shape = store.Shape{}
			return e
		}(), learn.Ignored},
	} {
		require.Equal(t, tt.want, learn.FromEntry(tt.e).Outcome, tt.name)
	}
}

// observe folds n observations of shape into st, the i-th taking gen(i).
func observe(st *store.BackendStats, shape string, n int, outcome learn.Outcome, at time.Time, gen func(i int) time.Duration) {
	for i := range n {
		o := learn.Observation{Backend: st.Backend, Shape: shape, Outcome: outcome, CostRatio: 1, At: at}
		if gen != nil {
			o.Generation = gen(i)
		}
		learn.Fold(st, o)
	}
}

func near(t *testing.T, want, got time.Duration, rel float64, what string) {
	t.Helper()
	require.InDelta(t, want.Seconds(), got.Seconds(), rel*want.Seconds(), what)
}

func TestEstimate(t *testing.T) {
	t.Parallel()
	p := learn.DefaultPrior
	st := store.BackendStats{Backend: "fal"}

	f := learn.Estimate(&st, std5, t0, p)
	require.Equal(t, learn.Figures{Success: 0.9, CostAccuracy: 1, P50: p.P50, P95: p.P95, Mean: p.P50}, f,
		"a new backend: the prior")

	// 970 successes taking 30..90 s evenly, 30 failures.
	observe(&st, std5, 970, learn.Success, t0, func(i int) time.Duration { return 30*time.Second + time.Duration(i)*60*time.Second/970 })
	observe(&st, std5, 30, learn.Failure, t0, nil)
	f = learn.Estimate(&st, std5, t0, p)
	require.InDelta(t, 0.97, f.Success, 0.001, "1,000 attempts outweigh the prior")
	require.InDelta(t, 1000, f.Samples, 1e-9)
	require.True(t, f.LatencyLearned)
	near(t, 60*time.Second, f.P50, 0.08, "p50 from the histogram")
	near(t, 87*time.Second, f.P95, 0.08, "p95 from the histogram")
	near(t, 60*time.Second, f.Mean, 0.01, "mean")
	require.InDelta(t, 1, f.CostAccuracy, 1e-9)

	// A shape never seen on the backend borrows the backend's figures.
	g := learn.Estimate(&st, "premium/4k/5s/t2v", t0, p)
	require.InDelta(t, (0.9*10+970)/(10+1000.0), g.Success, 1e-9)
	require.Zero(t, g.Samples)
	require.Equal(t, f.P95, g.P95, "latency of the backend over every shape")

	// A day later everything counts half: the same rates on half the samples.
	h := learn.Estimate(&st, std5, t0.Add(learn.HalfLife), p)
	require.InDelta(t, 500, h.Samples, 1e-6)
	require.Equal(t, f.P50, h.P50)
}

// A backend's figures move with what it does now: a fortnight of
// successes, then a day of 50% failures.
func TestRecentBehaviourWins(t *testing.T) {
	t.Parallel()
	st := store.BackendStats{Backend: "luma"}
	for d := range 14 {
		observe(&st, std5, 100, learn.Success, t0.Add(time.Duration(d)*24*time.Hour), func(int) time.Duration { return 40 * time.Second })
	}
	end := t0.Add(14 * 24 * time.Hour)
	for h := range 24 {
		at := end.Add(time.Duration(h) * time.Hour)
		observe(&st, std5, 5, learn.Success, at, func(int) time.Duration { return 40 * time.Second })
		observe(&st, std5, 5, learn.Failure, at, nil)
	}
	f := learn.Estimate(&st, std5, end.Add(24*time.Hour), learn.DefaultPrior)
	require.Less(t, f.Success, 0.8, "a day of failures shows through two weeks of history (%v)", f.Success)
}

// Cells merge exactly: the order in which observations are folded does
// not matter, nor whether they were folded into one document or several.
func TestFoldIsOrderFree(t *testing.T) {
	t.Parallel()
	obs := []learn.Observation{
		{Backend: "b", Shape: std5, Outcome: learn.Success, Generation: 20 * time.Second, CostRatio: 1.2, At: t0},
		{Backend: "b", Shape: std5, Outcome: learn.Failure, CostRatio: 0.5, At: t0.Add(3 * time.Hour)},
		{Backend: "b", Shape: std5, Outcome: learn.Success, Generation: 90 * time.Second, CostRatio: 1, At: t0.Add(time.Hour)},
	}
	var a, b store.BackendStats
	for _, o := range obs {
		learn.Fold(&a, o)
	}
	for i := len(obs) - 1; i >= 0; i-- {
		learn.Fold(&b, obs[i])
	}
	at := t0.Add(5 * time.Hour)
	ma, mb := learn.Merge(a.Cells, at), learn.Merge(b.Cells, at)
	require.InDelta(t, ma.Successes, mb.Successes, 1e-12)
	require.InDelta(t, ma.Failures, mb.Failures, 1e-12)
	require.InDelta(t, ma.CostRatio, mb.CostRatio, 1e-12)
	require.InDelta(t, ma.FailCostRatio, mb.FailCostRatio, 1e-12)
	require.InDeltaSlice(t, ma.Latency, mb.Latency, 1e-12)
	require.InDelta(t, math.Exp2(-5.0/24)+math.Exp2(-4.0/24), ma.Successes, 1e-9, "each success decayed by its age at merge")
}

// FoldRound reads and writes the stats of the backends its entries are
// about, once each, and learns nothing from ignored entries.
func TestFoldRound(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	ctx := context.Background()
	falOK := entry(job.AttemptSucceeded, "", 30*time.Second, "0.6")
	falBad := entry(job.AttemptFailed, job.CodeBackendUnavailable, 0, "0")
	lumaOK := entry(job.AttemptSucceeded, "", 50*time.Second, "0.6")
	lumaOK.Backend = "luma"
	unsafe := entry(job.AttemptFailed, job.CodeContentRejected, 0, "0")
	unsafe.Backend = "veo"
	for range 2 {
		require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error {
			write, _, err := (&learn.Folder{}).FoldRound(tx, []store.LedgerEntry{falOK, falBad, lumaOK, unsafe}, t0)
			if err != nil {
				return err
			}
			return write()
		}))
	}
	list, err := st.ListBackendStats(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2, "fal and luma; veo's only entry taught nothing")
	require.Equal(t, "fal", list[0].Backend)
	require.Len(t, list[0].Cells, 1)
	c := list[0].Cells[0]
	require.Equal(t, [2]float64{2, 2}, [2]float64{c.Successes, c.Failures}, "two rounds, each folded once")
	require.Equal(t, t0, list[0].UpdatedAt)
}
