package lumasim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/lumasim"
)

type env struct {
	sim   *lumasim.Sim
	srv   *httptest.Server
	clock *sim.ManualClock
}

func setup(t *testing.T) env {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := lumasim.New(sim.Config{QueueTime: 10 * time.Millisecond, RunTime: 30 * time.Millisecond, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	return env{sim: s, srv: srv, clock: clk}
}

func (e env) do(t *testing.T, method, path, body string, auth bool) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	if auth {
		req.Header.Set("Authorization", "Bearer luma-test")
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "body %s", data)
	}
	return resp.StatusCode, resp.Header, out
}

const (
	base     = lumasim.BasePath
	textBody = `{"model":"ray-2","prompt":"a teddy bear","aspect_ratio":"16:9","duration":"9s","resolution":"1080p"}`
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := setup(t)
	status, _, body := e.do(t, "POST", base+"/generations/video", textBody, false)
	require.Equal(t, http.StatusUnauthorized, status)
	require.NotEmpty(t, body["detail"])
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct{ name, body, detail string }{
		{"malformed", `{"model":`, "Invalid request body"},
		{"unknown model", `{"model":"ray-9","prompt":"a teddy bear"}`, "Invalid model"},
		{"bad aspect", `{"model":"ray-2","prompt":"a teddy bear","aspect_ratio":"5:4"}`, "aspect_ratio"},
		{"bad duration", `{"model":"ray-2","prompt":"a teddy bear","duration":"6s"}`, "duration"},
		{"numeric duration", `{"model":"ray-2","prompt":"a teddy bear","duration":5}`, "Invalid request body"},
		{"bad resolution", `{"model":"ray-2","prompt":"a teddy bear","resolution":"8k"}`, "resolution"},
		{"no prompt", `{"model":"ray-2"}`, "Prompt is required"},
		{"short prompt", `{"model":"ray-2","prompt":"ab"}`, "Prompt is too short"},
		{"long prompt", `{"model":"ray-2","prompt":"` + strings.Repeat("a", 5001) + `"}`, "Prompt is too long"},
		{"empty keyframes", `{"model":"ray-2","prompt":"a teddy bear","keyframes":{}}`, "No keyframes provided"},
		{"bad keyframe", `{"model":"ray-2","keyframes":{"frame0":{"type":"image"}}}`, "Invalid keyframe"},
		{"loop with end frame", `{"model":"ray-2","loop":true,"keyframes":{"frame1":{"type":"image","url":"https://x/a.png"}}}`, "Loop is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(t, "POST", base+"/generations/video", tt.body, true)
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body["detail"], tt.detail)
		})
	}
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestGenerationLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	status, _, g := e.do(t, "POST", base+"/generations/video",
		`{"model":"ray-flash-2","prompt":"a teddy bear","keyframes":{"frame0":{"type":"image","url":"https://example.com/a.png"}}}`, true)
	require.Equal(t, http.StatusCreated, status)
	id, _ := g["id"].(string)
	require.NotEmpty(t, id)
	require.Equal(t, "queued", g["state"])
	require.Equal(t, "video", g["generation_type"])
	req := g["request"].(map[string]any)
	require.Equal(t, "5s", req["duration"], "defaults are echoed")
	require.Equal(t, "720p", req["resolution"])
	require.Equal(t, "16:9", req["aspect_ratio"])

	get := func() map[string]any {
		status, _, g := e.do(t, "GET", base+"/generations/"+id, "", true)
		require.Equal(t, http.StatusOK, status)
		return g
	}
	e.clock.Advance(20 * time.Millisecond)
	require.Equal(t, "dreaming", get()["state"])
	e.clock.Advance(30 * time.Millisecond)
	g = get()
	require.Equal(t, "completed", g["state"])
	require.Nil(t, g["failure_reason"])
	require.Equal(t, e.srv.URL+"/__sim/videos/"+id+".mp4", g["assets"].(map[string]any)["video"])

	// The root path serves the same protocol.
	status, _, g = e.do(t, "GET", "/generations/"+id, "", true)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "completed", g["state"])
}

func TestFailures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	want := map[string]string{"x [sim:unsafe]": lumasim.FailureReasonSafety, "x [sim:fail]": lumasim.FailureReasonError}
	ids := map[string]string{}
	for p := range want {
		status, _, g := e.do(t, "POST", "/generations", `{"model":"ray-2","prompt":"`+p+`"}`, true)
		require.Equal(t, http.StatusCreated, status)
		ids[p] = g["id"].(string)
	}
	e.clock.Advance(time.Second)
	for p, reason := range want {
		_, _, g := e.do(t, "GET", base+"/generations/"+ids[p], "", true)
		require.Equal(t, "failed", g["state"])
		require.Equal(t, reason, g["failure_reason"])
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, _, g := e.do(t, "POST", base+"/generations/video", textBody, true)
	id := g["id"].(string)
	status, _, _ := e.do(t, "DELETE", base+"/generations/"+id, "", true)
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, 1, e.sim.Core().Stats().Canceled)
	status, _, body := e.do(t, "GET", base+"/generations/"+id, "", true)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "Generation not found", body["detail"])
	status, _, _ = e.do(t, "DELETE", base+"/generations/"+id, "", true)
	require.Equal(t, http.StatusNotFound, status)
}

func TestInjectedFaultsUseLumaShape(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.Core().SetFaults(sim.Faults{ErrorRate: 1})
	seen := map[int]bool{}
	for i := 0; i < 300 && len(seen) < 3; i++ {
		status, hdr, body := e.do(t, "GET", base+"/generations/x", "", true)
		require.Contains(t, []int{429, 500, 502}, status)
		require.NotEmpty(t, body["detail"])
		if status == http.StatusTooManyRequests {
			require.Equal(t, "1", hdr.Get("Retry-After"))
		}
		seen[status] = true
	}
	require.Len(t, seen, 3)
	e.sim.Core().SetFaults(sim.Faults{Down: true})
	status, _, body := e.do(t, "POST", base+"/generations/video", textBody, true)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.NotEmpty(t, body["detail"])
}

func TestStats(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 3 {
		status, _, _ := e.do(t, "POST", base+"/generations/video", textBody, true)
		require.Equal(t, http.StatusCreated, status)
	}
	status, _, stats := e.do(t, "GET", "/__sim/stats", "", false)
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 3, stats["submitted"])
	require.EqualValues(t, 2, stats["repeated_prompts"])
}

func TestList(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []string // oldest first
	for i := range 5 {
		_, _, g := e.do(t, "POST", base+"/generations/video", `{"model":"ray-2","prompt":"teddy bear `+strconv.Itoa(i)+`"}`, true)
		ids = append(ids, g["id"].(string))
		e.clock.Advance(time.Second)
	}
	status, _, _ := e.do(t, "DELETE", base+"/generations/"+ids[2], "", true)
	require.Equal(t, http.StatusNoContent, status)
	want := []string{ids[4], ids[3], ids[1], ids[0]} // newest first, the deleted one gone

	page := func(query string) ([]string, map[string]any) {
		status, _, body := e.do(t, "GET", base+"/generations"+query, "", true)
		require.Equal(t, http.StatusOK, status)
		var got []string
		for _, g := range body["generations"].([]any) {
			gm := g.(map[string]any)
			require.NotEmpty(t, gm["created_at"])
			require.NotEmpty(t, gm["request"].(map[string]any)["prompt"])
			got = append(got, gm["id"].(string))
		}
		return got, body
	}
	got, body := page("")
	require.Equal(t, want, got)
	require.Equal(t, false, body["has_more"])
	require.EqualValues(t, lumasim.DefaultListLimit, body["limit"])

	got, body = page("?limit=3&offset=0")
	require.Equal(t, want[:3], got)
	require.Equal(t, true, body["has_more"])
	require.EqualValues(t, 3, body["count"])
	got, body = page("?limit=3&offset=3")
	require.Equal(t, want[3:], got)
	require.Equal(t, false, body["has_more"])
	got, _ = page("?offset=10")
	require.Empty(t, got)

	e.sim.SetPageSize(2)
	got, body = page("?limit=100")
	require.Equal(t, want[:2], got)
	require.EqualValues(t, 2, body["limit"])
	require.Equal(t, true, body["has_more"])

	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1"} {
		status, _, body := e.do(t, "GET", base+"/generations"+q, "", true)
		require.Equal(t, http.StatusBadRequest, status, q)
		require.NotEmpty(t, body["detail"])
	}
	status, _, _ = e.do(t, "GET", "/generations", "", false)
	require.Equal(t, http.StatusUnauthorized, status)
}
