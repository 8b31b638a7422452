package runwaysim_test

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
	"github.com/aiprod/aiprod/pkg/sim/runwaysim"
)

type env struct {
	sim   *runwaysim.Sim
	srv   *httptest.Server
	clock *sim.ManualClock
}

func setup(t *testing.T) env {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := runwaysim.New(sim.Config{QueueTime: 10 * time.Millisecond, RunTime: 30 * time.Millisecond, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	return env{sim: s, srv: srv, clock: clk}
}

type call struct {
	method, path, body string
	header             map[string]string // replaces the default headers when set
}

func (e env) do(t *testing.T, c call) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, rd)
	require.NoError(t, err)
	hdr := c.header
	if hdr == nil {
		hdr = map[string]string{"Authorization": "Bearer key_test", "X-Runway-Version": runwaysim.APIVersion}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
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

const textBody = `{"model":"veo3.1_fast","promptText":"a fox","ratio":"1280:720","duration":4,"audio":false}`

func TestAuthAndVersion(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name   string
		header map[string]string
		status int
		msg    string
	}{
		{"no authorization", map[string]string{"X-Runway-Version": runwaysim.APIVersion}, 401, "API key"},
		{"empty bearer", map[string]string{"Authorization": "Bearer  ", "X-Runway-Version": runwaysim.APIVersion}, 401, "API key"},
		{"basic auth", map[string]string{"Authorization": "Basic abc", "X-Runway-Version": runwaysim.APIVersion}, 401, "API key"},
		{"no version", map[string]string{"Authorization": "Bearer k"}, 400, "X-Runway-Version"},
		{"wrong version", map[string]string{"Authorization": "Bearer k", "X-Runway-Version": "2023-01-01"}, 400, "X-Runway-Version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(t, call{method: "POST", path: "/v1/text_to_video", body: textBody, header: tt.header})
			require.Equal(t, tt.status, status)
			require.Contains(t, body["error"], tt.msg)
		})
	}
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name, path, body, msg string
	}{
		{"malformed json", "/v1/text_to_video", `{"model":`, "Invalid JSON"},
		{"unknown model", "/v1/text_to_video", `{"model":"gen9","promptText":"a","ratio":"1280:720","duration":4}`, "model"},
		{"gen4_turbo has no text to video", "/v1/text_to_video", `{"model":"gen4_turbo","promptText":"a","ratio":"1280:720","duration":5}`, "model"},
		{"bad ratio", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"16:9","duration":4}`, "ratio"},
		{"veo square", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"960:960","duration":4}`, "ratio"},
		{"bad duration", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"1280:720","duration":5}`, "duration"},
		{"gen4.5 needs a duration", "/v1/text_to_video", `{"model":"gen4.5","promptText":"a","ratio":"1280:720"}`, "duration"},
		{"missing prompt", "/v1/text_to_video", `{"model":"veo3.1","ratio":"1280:720","duration":4}`, "promptText"},
		{"prompt too long", "/v1/text_to_video", `{"model":"veo3.1","promptText":"` + strings.Repeat("a", 1001) + `","ratio":"1280:720","duration":4}`, "promptText"},
		{"audio on gen4_turbo", "/v1/image_to_video", `{"model":"gen4_turbo","promptImage":"https://example.com/a.png","ratio":"960:960","duration":5,"audio":true}`, "audio"},
		{"audio not boolean", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"1280:720","duration":4,"audio":"yes"}`, "audio"},
		{"image missing", "/v1/image_to_video", `{"model":"gen4_turbo","ratio":"960:960","duration":5}`, "promptImage"},
		{"image over http", "/v1/image_to_video", `{"model":"gen4_turbo","promptImage":"http://example.com/a.png","ratio":"960:960","duration":5}`, "HTTPS"},
		{"image array without first", "/v1/image_to_video", `{"model":"veo3.1","promptImage":[{"uri":"https://example.com/a.png","position":"last"}],"ratio":"1280:720","duration":4}`, "first"},
		{"image on text endpoint", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","promptImage":"https://example.com/a.png","ratio":"1280:720","duration":4}`, "promptImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(t, call{method: "POST", path: tt.path, body: tt.body})
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body["error"], tt.msg)
		})
	}
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	status, _, body := e.do(t, call{method: "POST", path: "/v1/image_to_video",
		body: `{"model":"gen4_turbo","promptImage":[{"uri":"https://example.com/a.png","position":"first"}],"ratio":"960:960"}`})
	require.Equal(t, http.StatusOK, status)
	id, _ := body["id"].(string)
	require.NotEmpty(t, id)
	require.Len(t, body, 1, "create answers only the id")

	get := func() map[string]any {
		status, _, task := e.do(t, call{method: "GET", path: "/v1/tasks/" + id})
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, id, task["id"])
		require.NotEmpty(t, task["createdAt"])
		return task
	}
	require.Equal(t, "THROTTLED", get()["status"])
	e.clock.Advance(5 * time.Millisecond)
	require.Equal(t, "PENDING", get()["status"])
	e.clock.Advance(20 * time.Millisecond)
	task := get()
	require.Equal(t, "RUNNING", task["status"])
	require.InDelta(t, 0.5, task["progress"], 0.01)
	e.clock.Advance(30 * time.Millisecond)
	task = get()
	require.Equal(t, "SUCCEEDED", task["status"])
	require.Equal(t, []any{e.srv.URL + "/__sim/videos/" + id + ".mp4"}, task["output"])

	stats := e.sim.Core().Stats()
	require.Equal(t, 1, stats.Submitted)
}

func TestFailures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := map[string]string{}
	for _, p := range []string{"x [sim:unsafe]", "x [sim:fail]"} {
		status, _, body := e.do(t, call{method: "POST", path: "/v1/text_to_video",
			body: `{"model":"veo3.1","promptText":"` + p + `","ratio":"720:1280","duration":6}`})
		require.Equal(t, http.StatusOK, status, "unsafe prompts are accepted and fail later")
		ids[p] = body["id"].(string)
	}
	e.clock.Advance(time.Second)
	_, _, task := e.do(t, call{method: "GET", path: "/v1/tasks/" + ids["x [sim:unsafe]"]})
	require.Equal(t, "FAILED", task["status"])
	require.Equal(t, runwaysim.FailureCodeSafety, task["failureCode"])
	require.NotEmpty(t, task["failure"])
	_, _, task = e.do(t, call{method: "GET", path: "/v1/tasks/" + ids["x [sim:fail]"]})
	require.Equal(t, "FAILED", task["status"])
	require.True(t, strings.HasPrefix(task["failureCode"].(string), "INTERNAL."))
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, _, body := e.do(t, call{method: "POST", path: "/v1/text_to_video", body: textBody})
	id := body["id"].(string)

	status, _, _ := e.do(t, call{method: "DELETE", path: "/v1/tasks/" + id})
	require.Equal(t, http.StatusNoContent, status)
	_, _, task := e.do(t, call{method: "GET", path: "/v1/tasks/" + id})
	require.Equal(t, "CANCELLED", task["status"])

	status, _, _ = e.do(t, call{method: "DELETE", path: "/v1/tasks/" + id})
	require.Equal(t, http.StatusNoContent, status, "deleting a canceled task")
	status, _, body = e.do(t, call{method: "GET", path: "/v1/tasks/" + id})
	require.Equal(t, http.StatusNotFound, status)
	require.NotEmpty(t, body["error"])

	status, _, _ = e.do(t, call{method: "DELETE", path: "/v1/tasks/" + id})
	require.Equal(t, http.StatusNotFound, status)
}

func TestInjectedFaultsUseRunwayShape(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.Core().SetFaults(sim.Faults{ErrorRate: 1})
	seen := map[int]bool{}
	for i := 0; i < 300 && len(seen) < 3; i++ {
		status, hdr, body := e.do(t, call{method: "GET", path: "/v1/tasks/x"})
		require.Contains(t, []int{429, 500, 502}, status)
		require.NotEmpty(t, body["error"])
		if status == http.StatusTooManyRequests {
			require.Equal(t, "1", hdr.Get("Retry-After"))
		}
		seen[status] = true
	}
	require.Len(t, seen, 3)

	e.sim.Core().SetFaults(sim.Faults{Down: true})
	status, _, body := e.do(t, call{method: "POST", path: "/v1/text_to_video", body: textBody})
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.NotEmpty(t, body["error"])
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestSimEndpointsAndStats(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 2 {
		status, _, _ := e.do(t, call{method: "POST", path: "/v1/text_to_video", body: textBody})
		require.Equal(t, http.StatusOK, status)
	}
	status, _, stats := e.do(t, call{method: "GET", path: "/__sim/stats", header: map[string]string{}})
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 2, stats["submitted"])
	require.EqualValues(t, 1, stats["repeated_prompts"])

	status, _, faults := e.do(t, call{method: "POST", path: "/__sim/faults", body: `{"down":true}`, header: map[string]string{}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, faults["down"])
	require.True(t, e.sim.Core().Faults().Down)
}
