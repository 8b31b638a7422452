package routing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/routing"
)

func late(cs []routing.Candidate) []string {
	var out []string
	for _, c := range cs {
		if c.Late {
			out = append(out, c.Backend)
		}
	}
	return out
}

// deadlineInput: alpha and beta tie on price, alpha has 10 slots, all
// held, and 20 jobs queued (each generation 30 s on average, p95 60 s), so
// a new job there would wait 21 × 30 s / 10 = 63 s and finish in about
// 2 min; beta is idle and as quick. gamma is dearer and on the prior
// (p95 2 min).
func deadlineInput(t *testing.T, deadline int) routing.Input {
	in := testInput(t)
	in.Catalog.Backends[0].Concurrency = 10
	a := fig(0.99, 30*time.Second)
	a.Load = routing.Load{InUse: 10, Queued: 20}
	in.Stats = map[string]routing.BackendStats{"alpha": a, "beta": fig(0.99, 30*time.Second)}
	if deadline > 0 {
		in.Request.DeadlineSeconds = &deadline
	}
	return in
}

func TestDeadlineSpillsOverToTheNextBackend(t *testing.T) {
	t.Parallel()
	in := deadlineInput(t, 120)
	d := routing.Decide(in)
	require.Equal(t, []string{"beta", "alpha", "gamma"}, names(d.Candidates), "waiting for alpha would miss the deadline")
	require.Equal(t, []string{"alpha", "gamma"}, late(d.Candidates))
	a := d.Candidates[1]
	require.Equal(t, 63*time.Second, a.Wait)
	require.InDelta(t, (123*time.Second + time.Duration(0.01*float64(60*time.Second))).Seconds(), a.Finish.Seconds(), 0.01,
		"wait + p95, plus the failover's completion when it fails")
	require.Equal(t, 120*time.Second, d.Deadline)
	require.False(t, d.DefaultDeadline)

	in = deadlineInput(t, 600)
	d = routing.Decide(in)
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names(d.Candidates), "a looser deadline waits for the cheapest (by name on a tie)")
	require.Empty(t, late(d.Candidates))

	in = deadlineInput(t, 180)
	in.Elapsed = time.Minute
	d = routing.Decide(in)
	require.Equal(t, 2*time.Minute, d.Deadline, "the deadline counts from acceptance")
	require.Equal(t, []string{"beta", "alpha", "gamma"}, names(d.Candidates))
}

func TestEveryCandidateLateRanksByCompletion(t *testing.T) {
	t.Parallel()
	in := deadlineInput(t, 60)
	b := in.Stats["beta"]
	b.Load = routing.Load{InUse: 5}
	in.Stats["beta"] = b
	d := routing.Decide(in)
	require.Equal(t, names(d.Candidates), late(d.Candidates), "nobody makes a minute")
	require.Equal(t, []string{"beta", "alpha", "gamma"}, names(d.Candidates), "the job still runs, where it should end soonest")
}

func TestDefaultDeadlineByTier(t *testing.T) {
	t.Parallel()
	for tier, want := range map[job.Tier]time.Duration{
		job.TierDraft: 15 * time.Minute, job.TierStandard: 30 * time.Minute, job.TierPremium: time.Hour,
	} {
		in := deadlineInput(t, 0)
		in.Request.QualityTier = tier
		in.Elapsed = time.Minute
		d := routing.Decide(in)
		require.Equal(t, want-time.Minute, d.Deadline, tier)
		require.True(t, d.DefaultDeadline)
	}
	// A backlog beyond the default spills too: 10 slots, 599 queued jobs
	// of 30 s each wait half an hour.
	in := deadlineInput(t, 0)
	a := in.Stats["alpha"]
	a.Queued = 599
	in.Stats["alpha"] = a
	require.Equal(t, "beta", names(routing.Decide(in).Candidates)[0])
}

// exploreInput: alpha and beta tie on price and are fresh; beta's figures
// rest on 3 samples only (stale).
func exploreInput(t *testing.T, draw float64) routing.Input {
	in := testInput(t)
	b := fig(0.99, 30*time.Second)
	b.Samples = 3
	in.Stats = map[string]routing.BackendStats{"alpha": fig(0.99, 30*time.Second), "beta": b, "gamma": fig(0.99, 30*time.Second)}
	in.Explore = routing.Exploration{Share: routing.ExploreShareDefault, Draw: draw}
	return in
}

func TestExploration(t *testing.T) {
	t.Parallel()
	d := routing.Decide(exploreInput(t, 0.5))
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names(d.Candidates), "99% of jobs do not explore")
	require.False(t, d.Candidates[0].Explore)

	d = routing.Decide(exploreInput(t, 0.004))
	require.Equal(t, []string{"beta", "alpha", "gamma"}, names(d.Candidates), "a draw under the share explores the stale backend")
	require.True(t, d.Candidates[0].Explore)
	require.Contains(t, d.Ranking(), "beta $0.500000 (success 99.0%, wait 0s, done in 1m1s, 3 samples) [explore: stale figures]")

	in := exploreInput(t, 0.004)
	b := in.Stats["beta"]
	b.Samples, b.At = 500, now.Add(-2*time.Hour)
	in.Stats["beta"] = b
	require.Equal(t, "beta", routing.Decide(in).Candidates[0].Backend, "no sample for an hour is stale too")

	in = exploreInput(t, 0.004)
	in.Catalog.Backends[1].Concurrency = 1
	b = in.Stats["beta"]
	b.Load = routing.Load{InUse: 1, Queued: 3}
	in.Stats["beta"] = b
	deadline := 120
	in.Request.DeadlineSeconds = &deadline
	require.Equal(t, "alpha", routing.Decide(in).Candidates[0].Backend, "never when it would miss the deadline")

	in = exploreInput(t, 0.004)
	in.Stats["beta"] = fig(0.99, 30*time.Second)
	g := in.Stats["gamma"]
	g.Samples = 0
	in.Stats["gamma"] = g
	require.Equal(t, "alpha", routing.Decide(in).Candidates[0].Backend, "never a candidate over 50% dearer (gamma: 3.2x)")

	in = exploreInput(t, 0.004)
	a := in.Stats["alpha"]
	a.Samples = 1
	in.Stats["alpha"] = a
	require.Equal(t, "alpha", routing.Decide(in).Candidates[0].Backend, "never while the best's own figures are stale")

	in = exploreInput(t, 0.1)
	in.Explore.Share = 0.5
	require.Equal(t, "alpha", routing.Decide(in).Candidates[0].Backend, "the share is capped at 2%")
}

func TestRankingExplainsTheDecision(t *testing.T) {
	t.Parallel()
	d := routing.Decide(deadlineInput(t, 120))
	require.Equal(t, "ranked by expected cost per successful video; deadline in 2m0s: "+
		"beta $0.500000 (success 99.0%, wait 0s, done in 1m1s, 100 samples), "+
		"alpha $0.500000 (success 99.0%, wait 1m3s, done in 2m4s, 100 samples) [would miss the deadline], "+
		"gamma $1.490000 (success 90.0%, wait 0s, done in 2m6s, 0 samples) [would miss the deadline]",
		d.Ranking())
}
