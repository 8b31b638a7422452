package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/store"
)

func TestListBackends(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) {
		c.Endpoints = map[string]string{"veo": "http://127.0.0.1:9001"}
		c.Circuit = circuit.Config{Cooldown: time.Minute}
	})
	ctx := context.Background()
	opened := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	_, err := store.UpdateBackend(ctx, e.st, "runway", opened, func(b *store.BackendState) error {
		b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, LastError: "HTTP 503", OpenedAt: opened}
		return nil
	})
	require.NoError(t, err)
	_, err = store.UpdateBackend(ctx, e.st, "luma", opened, func(b *store.BackendState) error {
		b.Disabled = true
		return nil
	})
	require.NoError(t, err)

	r := e.do(http.MethodGet, "/v1/backends", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	list := decode[api.BackendList](t, r)
	cat := catalog.Default()
	require.Len(t, list.Backends, len(cat.Backends))
	for i, b := range list.Backends {
		require.Equal(t, cat.Backends[i].Name, b.Name, "catalog order")
		require.NotEmpty(t, b.Prices, b.Name)
		require.NotEmpty(t, b.Capabilities.Models, b.Name)
		require.NotEmpty(t, b.Capabilities.Resolutions, b.Name)
		require.NotEmpty(t, b.Capabilities.Durations, b.Name)
		switch b.Name {
		case "runway":
			require.True(t, b.Enabled)
			require.Equal(t, circuit.Open, b.Circuit)
			require.Equal(t, 3, b.ConsecutiveFailures)
			require.Equal(t, "HTTP 503", b.LastError)
			require.Equal(t, opened.Add(time.Minute), *b.NextProbeAt)
		case "luma":
			require.False(t, b.Enabled)
			require.Equal(t, circuit.Closed, b.Circuit)
		default:
			require.True(t, b.Enabled, b.Name)
			require.Equal(t, circuit.Closed, b.Circuit, b.Name)
			require.Zero(t, b.ConsecutiveFailures)
			require.Nil(t, b.NextProbeAt)
		}
	}

	// The raw shape: every DESIGN.md key, endpoint only in dev mode.
	var raw struct {
		Backends []map[string]any `json:"backends"`
	}
	require.NoError(t, json.Unmarshal(r.body, &raw))
	for _, b := range raw.Backends {
		for _, k := range []string{"name", "enabled", "circuit", "consecutive_failures", "last_error", "capabilities", "prices"} {
			require.Contains(t, b, k)
		}
		if b["name"] == "veo" {
			require.Equal(t, "http://127.0.0.1:9001", b["endpoint"])
		} else {
			require.NotContains(t, b, "endpoint")
		}
	}

	requireError(t, e.do(http.MethodGet, "/v1/backends", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

func TestAdminPatchBackend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	patch := func(key, name, body string) resp {
		return e.do(http.MethodPatch, "/v1/admin/backends/"+name, key, body)
	}

	for _, tt := range []struct {
		name, key, backend, body string
		status                   int
		code, field              string
	}{
		{"no key", "", "runway", `{"enabled":false}`, 401, "unauthenticated", ""},
		{"wrong admin key", "nope", "runway", `{"enabled":false}`, 401, "unauthenticated", ""},
		{"project key", keyA, "runway", `{"enabled":false}`, 401, "unauthenticated", ""},
		{"unknown backend", adminKey, "nope", `{"enabled":false}`, 404, "not_found", ""},
		{"missing enabled", adminKey, "runway", `{}`, 400, "invalid_request", "enabled"},
		{"enabled not bool", adminKey, "runway", `{"enabled":"no"}`, 400, "invalid_request", "enabled"},
		{"unknown field", adminKey, "runway", `{"enabled":false,"why":"x"}`, 400, "invalid_request", "why"},
		{"malformed", adminKey, "runway", `{"enabled":`, 400, "invalid_request", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireError(t, patch(tt.key, tt.backend, tt.body), tt.status, tt.code, tt.field)
		})
	}
	states, err := e.st.ListBackends(context.Background())
	require.NoError(t, err)
	require.Empty(t, states, "nothing written by rejected requests")

	// Drain.
	r := patch(adminKey, "runway", `{"enabled":false}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.BackendView](t, r)
	require.Equal(t, "runway", v.Name)
	require.False(t, v.Enabled)
	states, err = e.st.ListBackends(context.Background())
	require.NoError(t, err)
	require.Len(t, states, 1)
	require.True(t, states[0].Disabled)
	list := decode[api.BackendList](t, e.do(http.MethodGet, "/v1/backends", keyA, ""))
	for _, b := range list.Backends {
		require.Equal(t, b.Name != "runway", b.Enabled, b.Name)
	}

	// Restore.
	r = patch(adminKey, "runway", `{"enabled":true}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.True(t, decode[api.BackendView](t, r).Enabled)
}

func TestAdminDisabledWithoutAdminKey(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) { c.AdminKey = "" })
	for _, key := range []string{"", "anything", keyA} {
		requireError(t, e.do(http.MethodPatch, "/v1/admin/backends/runway", key, `{"enabled":false}`), http.StatusUnauthorized, "unauthenticated", "")
		requireError(t, e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", key, ""), http.StatusUnauthorized, "unauthenticated", "")
	}
}

// GET /v1/backends shows what routing learned of each backend, as DESIGN
// "Economics" says: over every shape, and per shape; the prior for a
// backend nothing was learned of yet.
func TestListBackendsShowsLearnedStats(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.clock.freeze()
	now := e.clock.Now()
	fal := store.BackendStats{Backend: "fal"}
	for i := range 100 {
		o := learn.Observation{Backend: "fal", Shape: "standard/720p/5s/t2v", Outcome: learn.Success,
			Generation: 41 * time.Second, CostRatio: 1, At: now.Add(-time.Minute)}
		if i < 3 {
			o.Outcome = learn.Failure
		}
		learn.Fold(&fal, o)
	}
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error { return tx.PutBackendStats(fal) }))

	r := e.do(http.MethodGet, "/v1/backends", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var raw struct {
		Backends []struct {
			Name  string         `json:"name"`
			Stats map[string]any `json:"stats"`
		} `json:"backends"`
	}
	require.NoError(t, json.Unmarshal(r.body, &raw))
	for _, b := range raw.Backends {
		for _, k := range []string{"success_rate", "p50_seconds", "p95_seconds", "samples"} {
			require.Contains(t, b.Stats, k, b.Name)
		}
	}
	list := decode[api.BackendList](t, r)
	for _, b := range list.Backends {
		s := b.Stats
		if b.Name != "fal" {
			require.Equal(t, client.StatsFigures{SuccessRate: 0.9, P50Seconds: 60, P95Seconds: 120, CostAccuracy: 1}, s.StatsFigures,
				"%s: nothing learned yet: the prior", b.Name)
			require.Empty(t, s.Shapes)
			require.Nil(t, s.LastSampleAt)
			continue
		}
		require.Equal(t, 100, s.Samples)
		require.InDelta(t, 0.9636, s.SuccessRate, 0.0001, "97 of 100, and the prior worth 10")
		require.InDelta(t, 41, s.P50Seconds, 6)
		require.InDelta(t, 41, s.P95Seconds, 6)
		require.Len(t, s.Shapes, 1)
		require.Equal(t, "standard/720p/5s/t2v", s.Shapes[0].Shape)
		require.InDelta(t, 0.9694, s.Shapes[0].SuccessRate, 0.0001, "the shape's posterior, the backend's as its prior")
		require.Equal(t, now.Add(-time.Minute).UTC(), *s.LastSampleAt)
	}
}

func TestListBackendsShowsInFlight(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	now := e.clock.Now()
	for i, holder := range []string{"j1#1", "j2#1", "j3#1"} {
		lease := time.Hour
		if i == 2 {
			lease = time.Second // expired by the time the backends are listed
		}
		_, err := store.AcquireSlot(ctx, e.st, store.SlotClaim{Backend: "runway", Capacity: 10, Holder: holder,
			Project: projectB, Lease: lease}, now)
		require.NoError(t, err)
	}

	r := e.do(http.MethodGet, "/v1/backends", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	cat := catalog.Default()
	for _, b := range decode[api.BackendList](t, r).Backends {
		c := cat.Backend(b.Name)
		require.Equal(t, c.Concurrency, b.Concurrency, b.Name)
		if c.Concurrency == 0 {
			require.Nil(t, b.InFlight, "%s has no slots to count", b.Name)
			continue
		}
		require.NotNil(t, b.InFlight, b.Name)
		want := 0
		if b.Name == "runway" {
			want = 2 // held slots, whoever's project; the expired lease is free
		}
		require.Equal(t, want, *b.InFlight, b.Name)
	}
}
