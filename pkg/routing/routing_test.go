package routing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/store"
)

// testCatalog: alpha and beta tie at $0.50 for a 5 s standard 720p request,
// gamma is premium ($1.60 for 5 s: billed 8 s), delta is draft only ($0.25).
const testCatalog = `{
  "version": "test",
  "backends": [
    {"name": "alpha", "provider": "luma", "endpoint": "http://alpha", "offers": [
      {"model": "a1", "tier": "standard", "resolutions": ["720p", "1080p"], "aspect_ratios": ["16:9"],
       "durations": [5, 10], "text_to_video": true, "image_to_video": false, "audio": false,
       "prices": [{"per_second_usd": 0.10, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "beta", "provider": "runway", "endpoint": "http://beta", "offers": [
      {"model": "b1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9", "9:16"],
       "durations": [5, 10], "text_to_video": true, "image_to_video": true, "audio": true,
       "prices": [{"per_second_usd": 0.10, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "gamma", "provider": "veo", "endpoint": "http://gamma", "offers": [
      {"model": "g1", "tier": "premium", "resolutions": ["720p", "1080p", "4k"], "aspect_ratios": ["16:9"],
       "durations": [4, 8], "text_to_video": true, "image_to_video": true, "audio": true,
       "prices": [{"per_second_usd": 0.20, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "delta", "provider": "fal", "endpoint": "http://delta", "offers": [
      {"model": "d1", "tier": "draft", "resolutions": ["720p"], "aspect_ratios": ["16:9"],
       "durations": [5], "text_to_video": true, "image_to_video": false, "audio": false,
       "prices": [{"per_second_usd": 0.05, "source": "test", "as_of": "2026-01-01"}]}]}
  ]
}`

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testInput(t *testing.T) routing.Input {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	require.NoError(t, err)
	req := job.Request{Prompt: "a fox", DurationSeconds: 5}
	req.ApplyDefaults()
	require.NoError(t, req.Validate())
	return routing.Input{Request: req, Catalog: cat, Now: now}
}

// fig returns learned figures of success p and median generation time
// p50 (p95 twice that) on 100 recent samples, with no load.
func fig(p float64, p50 time.Duration) routing.BackendStats {
	return routing.BackendStats{Figures: learn.Figures{Success: p, P50: p50, P95: 2 * p50, Mean: p50, LatencyLearned: true,
		CostAccuracy: 1, Samples: 100, At: now.Add(-time.Minute)}}
}

func usd(s string) *money.Micros { m := money.MustParse(s); return &m }

func open(failures int, openedAgo time.Duration) store.BackendState {
	return store.BackendState{Breaker: circuit.Breaker{
		State: circuit.Open, ConsecutiveFailures: failures, LastError: "503 from provider", OpenedAt: now.Add(-openedAgo),
	}}
}

func names(cs []routing.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Backend
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(in *routing.Input)
		want     []string          // candidate backends in rank order
		probes   []string          // candidates marked Probe
		rejected map[string]string // backend → reason prefix
	}{
		{
			name:     "cheapest first, tie on name, tier filter",
			want:     []string{"alpha", "beta", "gamma"},
			rejected: map[string]string{"delta": "d1: tier draft below standard"},
		},
		{
			name: "draft request: cheapest offer wins",
			edit: func(in *routing.Input) { in.Request.QualityTier = job.TierDraft },
			want: []string{"delta", "alpha", "beta", "gamma"},
		},
		{
			name: "allow-list",
			edit: func(in *routing.Input) { in.Request.Backends = []string{"beta", "gamma", "nosuch"} },
			want: []string{"beta", "gamma"},
			rejected: map[string]string{
				"alpha": routing.ReasonNotInAllowList, "delta": routing.ReasonNotInAllowList,
				"nosuch": routing.ReasonUnknown,
			},
		},
		{
			name:     "excluded after failure",
			edit:     func(in *routing.Input) { in.Excluded = []string{"alpha"} },
			want:     []string{"beta", "gamma"},
			rejected: map[string]string{"alpha": routing.ReasonExcluded},
		},
		{
			name: "allow-list is applied before exclusion",
			edit: func(in *routing.Input) {
				in.Request.Backends = []string{"beta"}
				in.Excluded = []string{"alpha", "beta"}
			},
			want:     []string{},
			rejected: map[string]string{"alpha": routing.ReasonNotInAllowList, "beta": routing.ReasonExcluded},
		},
		{
			name:     "disabled",
			edit:     func(in *routing.Input) { in.Health = map[string]store.BackendState{"alpha": {Disabled: true}} },
			want:     []string{"beta", "gamma"},
			rejected: map[string]string{"alpha": routing.ReasonDisabled},
		},
		{
			name: "capabilities: resolution, aspect ratio, duration, audio, image",
			edit: func(in *routing.Input) {
				in.Request.Resolution = job.Res1080p
				in.Request.ImageURL = "https://example.com/a.png"
			},
			want: []string{"gamma"},
			rejected: map[string]string{
				"alpha": "a1: no image-to-video",
				"beta":  "b1: no 1080p",
				"delta": "d1: tier draft below standard",
			},
		},
		{
			name: "duration beyond every offer",
			edit: func(in *routing.Input) { in.Request.DurationSeconds = 9; in.Request.QualityTier = job.TierDraft },
			want: []string{"alpha", "beta"},
			rejected: map[string]string{
				"gamma": "g1: no 9 s duration (max 8 s)",
				"delta": "d1: no 9 s duration (max 5 s)",
			},
		},
		{
			name: "max_cost_usd",
			edit: func(in *routing.Input) { in.Request.MaxCostUSD = usd("0.5") },
			want: []string{"alpha", "beta"},
			rejected: map[string]string{
				"gamma": "estimate $1.600000 over max_cost_usd $0.500000",
			},
		},
		{
			name: "circuit open is removed, closed with failures is kept",
			edit: func(in *routing.Input) {
				in.Health = map[string]store.BackendState{
					"alpha": open(3, time.Second),
					"beta":  {Breaker: circuit.Breaker{ConsecutiveFailures: 2}},
				}
			},
			want:     []string{"beta", "gamma"},
			rejected: map[string]string{"alpha": "circuit open (3 consecutive failures; last error: 503 from provider; probe in 29s)"},
		},
		{
			name: "circuit open past cool-down: kept as a probe candidate",
			edit: func(in *routing.Input) {
				in.Health = map[string]store.BackendState{"alpha": open(3, time.Minute)}
			},
			want:   []string{"alpha", "beta", "gamma"},
			probes: []string{"alpha"},
		},
		{
			name: "half-open with a probe in flight is removed",
			edit: func(in *routing.Input) {
				in.Health = map[string]store.BackendState{"alpha": {Breaker: circuit.Breaker{
					State: circuit.HalfOpen, ConsecutiveFailures: 3, ProbeStartedAt: now.Add(-time.Second),
				}}}
			},
			want:     []string{"beta", "gamma"},
			rejected: map[string]string{"alpha": routing.ReasonProbeInFlight},
		},
		{
			name: "half-open with a silent probe past ProbeTimeout: probe again",
			edit: func(in *routing.Input) {
				in.Circuit = circuit.Config{ProbeTimeout: time.Minute}
				in.Health = map[string]store.BackendState{"alpha": {Breaker: circuit.Breaker{
					State: circuit.HalfOpen, ConsecutiveFailures: 3, ProbeStartedAt: now.Add(-2 * time.Minute),
				}}}
			},
			want:   []string{"alpha", "beta", "gamma"},
			probes: []string{"alpha"},
		},
		{
			name: "equal estimates: the more reliable first",
			edit: func(in *routing.Input) {
				in.Stats = map[string]routing.BackendStats{"alpha": fig(0.90, time.Minute), "beta": fig(0.99, time.Minute)}
			},
			want: []string{"beta", "alpha", "gamma"},
		},
		{
			name: "equal estimates and success: the quicker first",
			edit: func(in *routing.Input) {
				in.Stats = map[string]routing.BackendStats{"alpha": fig(0.95, 90*time.Second), "beta": fig(0.95, 40*time.Second)}
			},
			want: []string{"beta", "alpha", "gamma"},
		},
		{
			name: "failures billed make a flaky backend dearer than a reliable one at its price",
			edit: func(in *routing.Input) {
				a := fig(0.6, time.Minute)
				a.FailCost = 1
				in.Stats = map[string]routing.BackendStats{"alpha": a, "beta": fig(0.99, time.Minute)}
			},
			want: []string{"beta", "alpha", "gamma"},
		},
		{
			name: "a cheaper flaky backend whose failures are free stays first",
			edit: func(in *routing.Input) {
				in.Request.QualityTier = job.TierDraft
				in.Stats = map[string]routing.BackendStats{"delta": fig(0.6, time.Minute)}
			},
			want: []string{"delta", "alpha", "beta", "gamma"},
		},
		{
			name: "a backend that bills 30% over its estimate loses to an exact one",
			edit: func(in *routing.Input) {
				a := fig(0.99, time.Minute)
				a.CostAccuracy = 1.3
				in.Stats = map[string]routing.BackendStats{"alpha": a, "beta": fig(0.99, time.Minute)}
			},
			want: []string{"beta", "alpha", "gamma"},
		},
		{
			name: "success does not buy a price three times higher",
			edit: func(in *routing.Input) {
				in.Stats = map[string]routing.BackendStats{"gamma": fig(1, time.Minute), "alpha": fig(0.5, time.Minute)}
			},
			want: []string{"beta", "alpha", "gamma"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := testInput(t)
			if tt.edit != nil {
				tt.edit(&in)
			}
			d := routing.Decide(in)
			require.Equal(t, tt.want, names(d.Candidates))
			var probes []string
			for _, c := range d.Candidates {
				if c.Probe {
					probes = append(probes, c.Backend)
				}
			}
			require.Equal(t, tt.probes, probes)
			for b, why := range tt.rejected {
				require.Contains(t, d.Rejected(), b)
				require.True(t, strings.HasPrefix(d.Rejected()[b], why), "%s rejected for %q, want %q", b, d.Rejected()[b], why)
			}
			// Every catalog backend is either a candidate or rejected, never both.
			for _, b := range in.Catalog.Names() {
				_, rej := d.Rejected()[b]
				require.NotEqual(t, rej, contains(d.Candidates, b), "backend %s", b)
			}
		})
	}
}

func contains(cs []routing.Candidate, name string) bool {
	for _, c := range cs {
		if c.Backend == name {
			return true
		}
	}
	return false
}

func TestDecideQuote(t *testing.T) {
	t.Parallel()
	in := testInput(t)
	d := routing.Decide(in)
	best, ok := d.Best()
	require.True(t, ok)
	require.Equal(t, "alpha", best.Backend)
	require.Equal(t, "a1", best.Model)
	require.Equal(t, 5, best.Seconds)
	require.Equal(t, money.MustParse("0.5"), best.Estimate)

	// gamma bills the next supported duration: 8 s for a 5 s request.
	g := d.Candidates[2]
	require.Equal(t, "gamma", g.Backend)
	require.Equal(t, 8, g.Seconds)
	require.Equal(t, money.MustParse("1.6"), g.Estimate)
}

func TestExplain(t *testing.T) {
	t.Parallel()
	in := testInput(t)
	in.Request.Backends = []string{"alpha", "beta", "gamma"}
	in.Request.MaxCostUSD = usd("1")
	in.Excluded = []string{"beta"}
	in.Health = map[string]store.BackendState{"alpha": open(3, time.Second)}
	d := routing.Decide(in)
	_, ok := d.Best()
	require.False(t, ok)
	require.Equal(t,
		"no backend can serve this request: "+
			"alpha: circuit open (3 consecutive failures; last error: 503 from provider; probe in 29s); "+
			"beta: excluded after failure; "+
			"delta: not in allow-list; "+
			"gamma: estimate $1.600000 over max_cost_usd $1.000000",
		d.Explain())

	in = testInput(t)
	in.Health = map[string]store.BackendState{"alpha": open(3, time.Minute)}
	d = routing.Decide(in)
	require.Equal(t,
		"candidates: alpha (a1, $0.500000) [probe], beta (b1, $0.500000), gamma (g1, $1.600000); "+
			"rejected: delta: d1: tier draft below standard",
		d.Explain())
}

func TestRejectProbeTakenElsewhere(t *testing.T) {
	t.Parallel()
	in := testInput(t)
	in.Health = map[string]store.BackendState{"alpha": open(3, time.Minute)}
	d := routing.Decide(in)
	c := d.Clone()
	c.Reject("alpha", routing.ReasonProbeInFlight)
	require.Equal(t, []string{"beta", "gamma"}, names(c.Candidates))
	require.Equal(t, routing.ReasonProbeInFlight, c.Rejected()["alpha"])
	// The original decision is untouched.
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names(d.Candidates))
	require.NotContains(t, d.Rejected(), "alpha")
}

func TestDecideNilCatalog(t *testing.T) {
	t.Parallel()
	d := routing.Decide(routing.Input{})
	require.Empty(t, d.Candidates)
	require.Equal(t, "no backend can serve this request: the catalog has no backends", d.Explain())
}

func TestDecideRetriesRefusingBackendsLast(t *testing.T) {
	t.Parallel()
	in := testInput(t)
	in.Request.Backends = []string{"alpha", "beta"}

	in.Excluded, in.Retryable = []string{"alpha"}, []string{"alpha"}
	d := routing.Decide(in)
	require.Len(t, d.Candidates, 1, d.Explain())
	require.Equal(t, "beta", d.Candidates[0].Backend, "another backend is preferred to a retry")
	require.False(t, d.Candidates[0].Retry)

	in.Excluded, in.Retryable = []string{"alpha", "beta"}, []string{"beta"}
	d = routing.Decide(in)
	require.Len(t, d.Candidates, 1, d.Explain())
	require.Equal(t, "beta", d.Candidates[0].Backend, "the refusing backend comes back when nothing else is left")
	require.True(t, d.Candidates[0].Retry)
	require.Equal(t, routing.ReasonExcluded, d.Rejected()["alpha"], "a backend that failed otherwise stays excluded")
	require.Contains(t, d.Explain(), "beta (b1, $0.500000) [retry]")

	in.Retryable = nil
	d = routing.Decide(in)
	require.Empty(t, d.Candidates, "without Retryable exclusion is final")

	in.Retryable = []string{"beta"}
	in.Health = map[string]store.BackendState{"beta": open(3, time.Second)}
	d = routing.Decide(in)
	require.Empty(t, d.Candidates, "an open circuit stops retries")
	require.Equal(t, routing.ReasonExcluded, d.Rejected()["beta"])
}
