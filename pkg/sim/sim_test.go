package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/sim"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestListIsNewestFirst(t *testing.T) {
	t.Parallel()
	clk := sim.NewManualClock(t0)
	c := sim.NewCore(sim.Config{Now: clk.Now})
	a := c.Submit("a", "m", 4, nil)
	b := c.Submit("b", "m", 4, nil) // same instant as a: submission order decides
	clk.Advance(time.Second)
	d := c.Submit("d", "m", 4, nil)
	gone := c.Submit("gone", "m", 4, nil)
	c.Delete(gone.ID)

	var ids []string
	for _, g := range c.List() {
		ids = append(ids, g.ID)
	}
	require.Equal(t, []string{d.ID, b.ID, a.ID}, ids)
	require.Zero(t, c.Stats().Polls, "listing is not polling")

	clk.Advance(time.Hour)
	for _, g := range c.List() {
		require.Equal(t, sim.Succeeded, g.State, "List shows generations as they are now")
	}
}

func TestInjectWithStatus(t *testing.T) {
	t.Parallel()
	c := sim.NewCore(sim.Config{})
	c.SetFaults(sim.Faults{ErrorRate: 1, Status: http.StatusTooManyRequests})
	for range 20 {
		require.Equal(t, http.StatusTooManyRequests, c.Inject())
	}
	c.SetFaults(sim.Faults{ErrorRate: 1, Status: http.StatusTooManyRequests, Down: true})
	require.Equal(t, http.StatusServiceUnavailable, c.Inject(), "down wins")
	c.SetFaults(sim.Faults{Status: http.StatusTooManyRequests})
	require.Zero(t, c.Inject(), "status alone injects nothing")
	require.Equal(t, 21, c.Stats().InjectedErrors)
}

func post(t *testing.T, srv *httptest.Server, path, body string) (int, map[string]any) {
	t.Helper()
	res, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return res.StatusCode, m
}

func TestFaultsEndpoint(t *testing.T) {
	t.Parallel()
	c := sim.NewCore(sim.Config{})
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	code, body := post(t, srv, "/__sim/faults", `{"error_rate":0.5}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"error_rate": 0.5, "latency_ms": 0.0, "down": false}, body,
		"without status the answer is the contract's three fields")

	code, body = post(t, srv, "/__sim/faults", `{"error_rate":1,"status":429}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 429.0, body["status"])
	require.Equal(t, sim.Faults{ErrorRate: 1, Status: 429}, c.Faults())

	for _, bad := range []string{`{"status":200}`, `{"status":600}`, `{"error_rate":2}`, `{"nope":1}`} {
		code, _ = post(t, srv, "/__sim/faults", bad)
		require.Equal(t, http.StatusBadRequest, code, bad)
	}
	require.Equal(t, sim.Faults{ErrorRate: 1, Status: 429}, c.Faults(), "refused faults change nothing")
}

// gated serves one endpoint behind a Gate that answers {"status": code}.
func gated(t *testing.T, c *sim.Core, check func(http.ResponseWriter, *http.Request) bool) *httptest.Server {
	t.Helper()
	g := sim.Gate{
		Core:    c,
		Schemes: []string{"Bearer", "Token"},
		Error:   func(w http.ResponseWriter, code int) { sim.WriteJSON(w, code, map[string]int{"status": code}) },
		Check:   check,
	}
	srv := httptest.NewServer(g.Wrap(func(w http.ResponseWriter, _ *http.Request) {
		sim.WriteJSON(w, http.StatusOK, map[string]int{"status": 200})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, auth string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode, res.Header
}

func TestGateCredentials(t *testing.T) {
	t.Parallel()
	c := sim.NewCore(sim.Config{})
	srv := gated(t, c, nil)
	for auth, want := range map[string]int{
		"": 401, "Bearer ": 401, "Bearer  ": 401, "Key k": 401, "bearer k": 401,
		"Bearer k": 200, "Token k": 200,
	} {
		code, _ := call(t, srv, auth)
		require.Equal(t, want, code, "%q", auth)
	}
	c.SetCredential("right")
	require.Equal(t, "right", c.Credential())
	code, _ := call(t, srv, "Bearer wrong")
	require.Equal(t, 401, code)
	code, _ = call(t, srv, "Token right")
	require.Equal(t, 200, code)
}

func TestGateOrder(t *testing.T) {
	t.Parallel()
	c := sim.NewCore(sim.Config{})
	checked := 0
	srv := gated(t, c, func(w http.ResponseWriter, r *http.Request) bool {
		checked++
		if r.Header.Get("X-Version") == "" {
			sim.WriteJSON(w, http.StatusBadRequest, nil)
			return false
		}
		return true
	})
	c.SetFaults(sim.Faults{ErrorRate: 1, Status: http.StatusTooManyRequests})
	code, hdr := call(t, srv, "") // faults come before the credential
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "1", hdr.Get("Retry-After"))
	c.SetFaults(sim.Faults{})
	code, _ = call(t, srv, "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Zero(t, checked, "Check runs after the credential")
	code, _ = call(t, srv, "Bearer k")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, 1, checked)
}

func TestGateTakesTheBaseURLFromTheFirstRequest(t *testing.T) {
	t.Parallel()
	clk := sim.NewManualClock(t0)
	c := sim.NewCore(sim.Config{Now: clk.Now})
	srv := gated(t, c, nil)
	call(t, srv, "Bearer k")
	g := c.Submit("p", "m", 4, nil)

	set := sim.NewCore(sim.Config{BaseURL: "http://sim.example", Now: clk.Now})
	call(t, gated(t, set, nil), "Bearer k")
	gs := set.Submit("p", "m", 4, nil)

	clk.Advance(time.Hour)
	got, _ := c.Get(g.ID)
	require.Equal(t, srv.URL+"/__sim/videos/"+g.ID+".mp4", got.VideoURL)
	got, _ = set.Get(gs.ID)
	require.Equal(t, "http://sim.example/__sim/videos/"+gs.ID+".mp4", got.VideoURL, "a base URL already set stays")
}

func TestServer(t *testing.T) {
	t.Parallel()
	clk := sim.NewManualClock(t0)
	s := sim.NewServer(sim.Config{Now: clk.Now, QueueTime: time.Second},
		sim.Gate{Schemes: []string{"Bearer"}, Error: func(w http.ResponseWriter, code int) { sim.WriteJSON(w, code, map[string]int{"code": code}) }},
		sim.Routes{"GET /v1/ping": func(w http.ResponseWriter, _ *http.Request) { sim.WriteJSON(w, http.StatusOK, "pong") }})
	require.Same(t, s.Handler(), s.Handler(), "one handler")
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	get := func(path, auth string) int {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", auth)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, get("/v1/ping", ""), "routes are behind the gate")
	s.Core().SetCredential("k")
	require.Equal(t, http.StatusUnauthorized, get("/v1/ping", "Bearer other"), "the gate checks the server's core")
	require.Equal(t, http.StatusOK, get("/v1/ping", "Bearer k"))
	require.Equal(t, http.StatusOK, get("/__sim/stats", ""), "the /__sim endpoints are mounted, outside the gate")

	cfg := s.Core().Config()
	require.Equal(t, time.Second, cfg.QueueTime)
	require.Equal(t, sim.RunTimeDefault, cfg.RunTime, "defaults applied")
	require.Equal(t, srv.URL, cfg.BaseURL, "taken from the first request")
	clk.Advance(time.Minute)
	require.Equal(t, t0.Add(time.Minute), s.Core().Now())
}
