package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// learned stores what was learned of backend for the standard 5 s shape:
// n attempts a minute ago, a share ok of them successes of gen each, the
// failures billed at failCost of their estimate.
func (e *env) learned(t *testing.T, backend string, n int, ok float64, gen time.Duration, failCost float64) {
	t.Helper()
	st := store.BackendStats{Backend: backend}
	at := time.Now().Add(-time.Minute)
	for i := range n {
		o := learn.Observation{Backend: backend, Shape: "standard/720p/5s/t2v", Outcome: learn.Success, Generation: gen,
			CostRatio: 1, At: at}
		if float64(i) >= ok*float64(n) {
			o.Outcome, o.CostRatio = learn.Failure, failCost
		}
		learn.Fold(&st, o)
	}
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error { return tx.PutBackendStats(st) }))
}

func dispatchedEvent(t *testing.T, e *env, id string) string {
	t.Helper()
	evs, err := e.st.ListEvents(context.Background(), id)
	require.NoError(t, err)
	for _, ev := range evs {
		if ev.Type == "dispatched" {
			return ev.Message
		}
	}
	t.Fatalf("job %s has no dispatched event", id)
	return ""
}

// The router ranks by expected cost per successful video from the learned
// figures (alpha is cheaper, but fails 40% of the time and its failures
// are billed), and says why in the job's timeline.
func TestRoutingUsesLearnedFigures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.learned(t, "alpha", 200, 0.6, 30*time.Second, 1)
	e.learned(t, "beta", 200, 0.99, 30*time.Second, 0)
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, "beta", e.job(t, j.ID).Backend)
	msg := dispatchedEvent(t, e, j.ID)
	require.Contains(t, msg, "dispatched to beta (b1, 5 s) for $0.600000; ranked by expected cost per successful video; "+
		"deadline in 30m0s (the tier's default): beta $0.60")
	require.Regexp(t, `alpha \$0\.[0-9]+ \(success 6[0-9]\.[0-9]%, wait 0s, done in [0-9ms]+, 200 samples\)`, msg)
}

// With a deadline, jobs spill from a saturated backend to the next one
// instead of waiting past it: alpha has 2 slots and generations of 15 s
// (p95 16 s, as the histogram reads it), so a job there waits 7.5 s per
// job ahead of it; from the 16th job on it would miss 120 s, and beta
// takes the rest.
// The router counts its own dispatches between reads of the load.
func TestDeadlineSpillsOver(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *router.Config) { c.Catalog.Backends[0].Concurrency = 2; c.LoadTTL = -1 })
	e.learned(t, "alpha", 100, 1, 15*time.Second, 0)
	e.learned(t, "beta", 100, 1, 15*time.Second, 0)
	deadline := 120
	var got []string
	for range 20 {
		j, m := e.ingest(t, request(t, func(r *job.Request) { r.DeadlineSeconds = &deadline }))
		require.Equal(t, "ack", e.deliver(t, m))
		got = append(got, e.job(t, j.ID).Backend)
		if len(got) == 20 {
			require.Contains(t, dispatchedEvent(t, e, j.ID), "deadline in 2m0s: beta")
			require.Contains(t, dispatchedEvent(t, e, j.ID), "[would miss the deadline]")
		}
	}
	n := 0
	for _, b := range got {
		if b == "alpha" {
			n++
		}
	}
	require.Equal(t, 15, n, "alpha takes what it can finish in time: %v", got)
	require.Equal(t, "beta", got[19])
}

// The load is read from the store: jobs already dispatched to a backend
// (by other routers) count, as do the slots in use.
func TestLoadIsReadFromTheStore(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *router.Config) { c.Catalog.Backends[0].Concurrency = 2 })
	e.learned(t, "alpha", 100, 1, 15*time.Second, 0)
	e.learned(t, "beta", 100, 1, 15*time.Second, 0)
	for range 15 {
		j := job.New("", "other", request(t), time.Now())
		j.Status, j.Backend = job.StatusDispatched, "alpha"
		_, _, err := storetest.CreateJob(context.Background(), e.st, j)
		require.NoError(t, err)
	}
	deadline := 120
	j, m := e.ingest(t, request(t, func(r *job.Request) { r.DeadlineSeconds = &deadline }))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, "beta", e.job(t, j.ID).Backend, "15 jobs queued at alpha: 14 ahead of a slot, 105 s, + p95 16 s > 120 s")
	require.Contains(t, dispatchedEvent(t, e, j.ID), "wait 1m45s")

	j, m = e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, "alpha", e.job(t, j.ID).Backend, "without a deadline the standard tier's 30 min allows the wait")
}

func TestExploreDraw(t *testing.T) {
	t.Parallel()
	id := job.NewID()
	a, b := router.ExploreDraw(id, 1), router.ExploreDraw(id, 2)
	require.Equal(t, a, router.ExploreDraw(id, 1), "the same for every routing of an attempt")
	require.NotEqual(t, a, b)
	n := 0
	for range 10000 {
		d := router.ExploreDraw(job.NewID(), 1)
		require.True(t, d >= 0 && d < 1)
		if d < 0.01 {
			n++
		}
	}
	require.InDelta(t, 100, n, 40, "uniform: about 1% of jobs draw under 0.01")
}
