package api_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
)

// rateLimited is a setup option: n requests a second per key, the clock
// frozen so that no token comes back unless the test advances it.
func rateLimited(n int) func(*api.Config) {
	return func(c *api.Config) { c.RateLimit = n }
}

// probe sends n GET /v1/jobs?limit=500 with key and counts the answers by
// status; every 429 must be a rate_limited error with a Retry-After of
// whole seconds, at least 1.
func (e *env) probe(key string, n int) map[int]int {
	e.t.Helper()
	got := map[int]int{}
	for range n {
		r := e.do(http.MethodGet, "/v1/jobs?limit=500", key, "")
		got[r.status]++
		if r.status == http.StatusTooManyRequests {
			requireError(e.t, r, http.StatusTooManyRequests, api.CodeRateLimited, "")
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(e.t, err, "Retry-After %q", r.header.Get("Retry-After"))
			require.GreaterOrEqual(e.t, secs, 1)
		}
	}
	return got
}

// TestRateLimitProbe is issue 13 finding 1's probe: 300 back-to-back
// GET /v1/jobs from one key with a limit of 50 a second get 429s once the
// burst (100) is spent; another key is not affected.
func TestRateLimitProbe(t *testing.T) {
	t.Parallel()
	e := setup(t, rateLimited(50))
	e.clock.freeze()
	require.Equal(t, map[int]int{http.StatusOK: 100, http.StatusTooManyRequests: 200}, e.probe(keyA, 300))
	require.Equal(t, map[int]int{http.StatusOK: 100}, e.probe(keyB, 100), "each key has its own bucket")
	require.Contains(t, e.logs.String(), `"status":429`, "the access log shows the refusals")
}

// TestRateLimitOff: with no limit (0, the dev stack's default) the probe
// never gets a 429.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	e := setup(t, rateLimited(0))
	e.clock.freeze()
	require.Equal(t, map[int]int{http.StatusOK: 300}, e.probe(keyA, 300))
}

// TestRateLimitRetryAfter: Retry-After is the wait for the next token,
// rounded up to a whole second; once it has passed the key works again.
func TestRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	e := setup(t, rateLimited(1)) // burst 2
	e.clock.freeze()
	require.Equal(t, map[int]int{http.StatusOK: 2}, e.probe(keyA, 2))
	r := e.do(http.MethodPost, "/v1/jobs", keyA, validBody)
	requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited, "")
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Empty(t, e.jobsOf(projectA), "a refused request does nothing")

	e.clock.advance(300 * time.Millisecond) // 0.3 of a token: 0.7 s to wait, shown as 1
	r = e.do(http.MethodGet, "/v1/jobs", keyA, "")
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))

	e.clock.advance(700 * time.Millisecond)
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusTooManyRequests: 1}, e.probe(keyA, 2),
		"one token came back in one second")
	e.clock.advance(2 * time.Second)
	require.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 1}, e.probe(keyA, 3),
		"an idle key refills up to its burst, no further")
}

// TestRateLimitScope: admin routes and the probes are not limited, and a
// bad key gets 401, not 429, without spending a bucket.
func TestRateLimitScope(t *testing.T) {
	t.Parallel()
	e := setup(t, rateLimited(1))
	e.clock.freeze()
	for range 10 {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", "").status)
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/readyz", "", "").status)
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/admin/projects/alpha/keys", adminKey, "").status)
		requireError(t, e.do(http.MethodGet, "/v1/jobs", "not-a-key", ""), http.StatusUnauthorized, "unauthenticated", "")
	}
	require.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 1}, e.probe(keyA, 3))
}

// TestRateLimitBucketsBounded: past RateLimitBuckets the least recently
// used key's bucket is dropped (and comes back full), so memory stays
// bounded whatever the number of keys.
func TestRateLimitBucketsBounded(t *testing.T) {
	t.Parallel()
	e := setup(t, rateLimited(1), func(c *api.Config) { c.RateLimitBuckets = 1 })
	e.clock.freeze()
	require.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 1}, e.probe(keyA, 3))
	require.Equal(t, map[int]int{http.StatusOK: 2}, e.probe(keyB, 2), "keyB's bucket evicts keyA's")
	require.Equal(t, map[int]int{http.StatusOK: 2, http.StatusTooManyRequests: 1}, e.probe(keyA, 3),
		"keyA starts again from a full bucket")
}

func TestRateLimitConfigValidated(t *testing.T) {
	t.Parallel()
	base := setup(t).cfg
	for _, c := range []func(*api.Config){
		func(c *api.Config) { c.RateLimit = -1 },
		func(c *api.Config) { c.RateLimit = api.RateLimitMax + 1 },
		func(c *api.Config) { c.RateLimit, c.RateBurst = 5, -1 },
		func(c *api.Config) { c.RateLimitBuckets = -1 },
	} {
		cfg := base
		c(&cfg)
		_, err := api.New(cfg)
		require.ErrorContains(t, err, "Config.RateLimit")
	}
}
