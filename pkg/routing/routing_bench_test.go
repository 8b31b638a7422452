package routing_test

import (
	"testing"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/stretchr/testify/require"
)

// BenchmarkRoute measures one routing decision (routing.Decide, as the
// router calls it) over a catalog of 10 backends: the default catalog's
// five, twice over under other names. Every backend has stored health (one
// of them an open circuit, one with failures) and measured stats, and the
// request is the common one (standard, 720p, 16:9, 5 s), which most of
// them can serve; the ranking is by expected cost per successful video
// with each backend's load against the tier's default deadline, and the
// job does not explore (as 99% of jobs). Issue 14's target: ≤ 2 µs per
// decision.
// Run: make bench, or go test -run '^$' -bench Route -benchmem ./pkg/routing
func BenchmarkRoute(b *testing.B) {
	in := tenBackends(b)
	if d := routing.Decide(in); len(d.Candidates) < 2 {
		b.Fatalf("the benchmark's request should have several candidates: %s", d.Explain())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := routing.Decide(in)
		if len(d.Candidates) == 0 {
			b.Fatal("no candidate")
		}
	}
}

// TestDecideAllocatesOnlyItsResult guards BenchmarkRoute's figure without
// timing anything: a decision that finds candidates allocates its ranked
// candidates and its list of rejections, and no reason text, map or quote
// (issue 14: 48 allocations a decision before).
func TestDecideAllocatesOnlyItsResult(t *testing.T) {
	in := tenBackends(t)
	d := routing.Decide(in)
	require.Len(t, d.Candidates, 8)
	require.Equal(t, map[string]string{
		"luma-b":    routing.ReasonExcluded,
		"replicate": "circuit open (3 consecutive failures; last error: 503; probe in 29s)",
	}, d.Rejected(), "the reasons, built when asked, are those of before")
	allocs := testing.AllocsPerRun(100, func() { routing.Decide(in) })
	require.LessOrEqual(t, allocs, 2.0, "allocations a decision")
}

// tenBackends is a routing input over 10 backends with health and stats.
func tenBackends(b testing.TB) routing.Input {
	b.Helper()
	def := catalog.Default()
	cat := &catalog.Catalog{Version: def.Version}
	for _, suffix := range []string{"", "-b"} {
		for _, be := range def.Clone().Backends {
			be.Name += suffix
			cat.Backends = append(cat.Backends, be)
		}
	}
	if err := cat.Validate(); err != nil {
		b.Fatal(err)
	}
	if n := len(cat.Backends); n != 10 {
		b.Fatalf("%d backends, want 10", n)
	}
	req := job.Request{Prompt: "a red fox running through snow, cinematic", DurationSeconds: 5}
	req.ApplyDefaults()
	if err := req.Validate(); err != nil {
		b.Fatal(err)
	}
	health := map[string]store.BackendState{}
	stats := map[string]routing.BackendStats{}
	for i, be := range cat.Backends {
		st := store.BackendState{Name: be.Name}
		switch i {
		case 3:
			st.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, LastError: "503", OpenedAt: now.Add(-time.Second)}
		case 5:
			st.Breaker = circuit.Breaker{ConsecutiveFailures: 1, LastError: "503"}
		}
		health[be.Name] = st
		p50 := time.Duration(30+i) * time.Second
		stats[be.Name] = routing.BackendStats{
			Figures: learn.Figures{Success: 0.9 + float64(i)/100, P50: p50, P95: 2 * p50, Mean: p50, LatencyLearned: true,
				CostAccuracy: 1, Samples: 100, At: now.Add(-time.Minute)},
			Load: routing.Load{InUse: i, Queued: 2 * i},
		}
	}
	return routing.Input{Request: req, Catalog: cat, Health: health, Now: now, Stats: stats,
		Excluded: []string{"luma-b"}, Explore: routing.Exploration{Share: routing.ExploreShareDefault, Draw: 0.5}}
}
