package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/metrics/metricstest"
)

// The API records its latency by route pattern and status code (never the
// raw path), and the jobs it accepts; GET /metrics serves the handler given.
func TestAPIMetrics(t *testing.T) {
	t.Parallel()
	rec, read := metricstest.New()
	served := false
	e := setup(t, func(c *api.Config) {
		c.Metrics = rec
		c.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served = true
			_, _ = w.Write([]byte("aiprod_jobs_accepted_total 1\n"))
		})
	})
	r := e.do(http.MethodPost, "/v1/jobs", keyA, `{"prompt":"a fox","duration_seconds":5}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	id := decode[client.Job](t, r).ID
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs/"+id, keyA, "").status)
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/jobs/"+strings.Repeat("0", 8), keyA, "").status)

	count := func(route string, status string) float64 {
		v, ok := read.Value(t, metrics.HTTPServerRequestDuration, metrics.LabelRoute, route, metrics.LabelStatusCode, status)
		require.True(t, ok, "%s %s; have %v", route, status, read.Points(t, metrics.HTTPServerRequestDuration))
		return v
	}
	assert.Equal(t, 1.0, count("/v1/jobs", "202"))
	assert.Equal(t, 1.0, count("/v1/jobs/{id}", "200"))
	assert.Equal(t, 1.0, count("/v1/jobs/{id}", "404"), "labelled by pattern, not by the id")
	v, ok := read.Value(t, metrics.JobsAccepted, metrics.LabelProject, projectA, metrics.LabelTier, "standard")
	require.True(t, ok)
	assert.Equal(t, 1.0, v)

	m := e.do(http.MethodGet, "/metrics", "", "")
	assert.Equal(t, http.StatusOK, m.status)
	assert.True(t, served)
	_, scraped := read.Value(t, metrics.HTTPServerRequestDuration, metrics.LabelRoute, "/metrics", metrics.LabelStatusCode, "200")
	assert.False(t, scraped, "scrapes are not measured")
}
