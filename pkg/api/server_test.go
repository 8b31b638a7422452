package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	st, q, cat := memstore.New(), memqueue.New(), catalog.Default()
	for _, tt := range []struct {
		name string
		cfg  api.Config
		want string
	}{
		{"no store", api.Config{Queue: q, Catalog: cat}, "Config.Store"},
		{"no queue", api.Config{Store: st, Catalog: cat}, "Config.Queue"},
		{"no catalog", api.Config{Store: st, Queue: q}, "Config.Catalog"},
		{"unknown endpoint", api.Config{Store: st, Queue: q, Catalog: cat, Endpoints: map[string]string{"nope": "x"}}, "Config.Endpoints"},
		{"negative body limit", api.Config{Store: st, Queue: q, Catalog: cat, MaxBodyBytes: -1}, "Config.MaxBodyBytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := api.New(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := api.New(api.Config{Store: st, Queue: q, Catalog: cat})
	require.NoError(t, err)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, r.status, path)
		require.Equal(t, "ok", decode[api.Status](t, r).Status)
	}

	var ready error
	e = setup(t, func(c *api.Config) { c.Ready = func(context.Context) error { return ready } })
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/readyz", "", "").status)
	ready = errors.New("firestore emulator at 10.0.0.1:8080 unreachable")
	d := requireError(t, e.do(http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, "unavailable", "")
	require.NotContains(t, d.Message, "10.0.0.1", "internal detail stays in the log")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", "").status, "liveness is not readiness")
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/v1/nope", 404, "not_found", ""},
		{http.MethodGet, "/", 404, "not_found", ""},
		{http.MethodPost, "/v1/budget", 405, "method_not_allowed", "GET, HEAD"},
		{http.MethodDelete, "/v1/usage", 405, "method_not_allowed", "GET, HEAD"},
		{http.MethodGet, "/v1/admin/projects/alpha/budget", 405, "method_not_allowed", "PUT"},
		{http.MethodDelete, "/v1/jobs", 405, "method_not_allowed", "GET, HEAD, POST"},
		{http.MethodPut, "/v1/backends", 405, "method_not_allowed", "GET, HEAD"},
		{http.MethodGet, "/v1/jobs/x/cancel", 405, "method_not_allowed", "POST"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.do(tt.method, tt.path, keyA, "")
			requireError(t, r, tt.status, tt.code, "")
			require.Equal(t, tt.allow, r.header.Get("Allow"))
		})
	}
}

// panickyStore panics when the backends are listed.
type panickyStore struct{ store.Store }

func (panickyStore) ListBackends(context.Context) ([]store.BackendState, error) {
	panic("boom")
}

func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) { c.Store = panickyStore{Store: c.Store} })
	d := requireError(t, e.do(http.MethodGet, "/v1/backends", keyA, ""), http.StatusInternalServerError, "internal", "")
	require.Equal(t, "internal error", d.Message)
	require.True(t, strings.Contains(e.logs.String(), "panic in handler"))
	// Still serving.
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", "").status)
	e.submit(keyA)
}

func TestStoreFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	require.NoError(t, e.st.Close())
	r := e.do(http.MethodGet, "/v1/jobs", keyA, "")
	require.GreaterOrEqual(t, r.status, 500, string(r.body))
	d := requireError(t, r, r.status, map[int]string{500: "internal", 503: "unavailable"}[r.status], "")
	require.NotContains(t, d.Message, "memstore", "internal detail stays in the log")
}
