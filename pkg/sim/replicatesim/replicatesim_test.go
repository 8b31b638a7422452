package replicatesim_test

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
	"github.com/aiprod/aiprod/pkg/sim/replicatesim"
)

func setup(t *testing.T) (*replicatesim.Sim, *httptest.Server) {
	t.Helper()
	s := replicatesim.New(sim.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, auth, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, res.Header, m
}

const create = "/v1/models/google/veo-3.1-fast/predictions"

func TestPredictionShape(t *testing.T) {
	t.Parallel()
	_, srv := setup(t)
	code, _, p := call(t, srv, http.MethodPost, create, "Token t", `{"input":{"prompt":"a fox","duration":4}}`)
	require.Equal(t, http.StatusCreated, code)
	require.Equal(t, "starting", p["status"])
	require.Equal(t, "google/veo-3.1-fast", p["model"])
	require.Nil(t, p["output"])
	require.Nil(t, p["error"])
	require.Nil(t, p["started_at"])
	id := p["id"].(string)
	urls := p["urls"].(map[string]any)
	require.Equal(t, srv.URL+"/v1/predictions/"+id, urls["get"])
	require.Equal(t, srv.URL+"/v1/predictions/"+id+"/cancel", urls["cancel"])

	code, _, _ = call(t, srv, http.MethodGet, "/v1/predictions/nope", "Bearer t", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestValidationAndAuth(t *testing.T) {
	t.Parallel()
	s, srv := setup(t)
	code, _, body := call(t, srv, http.MethodPost, create, "", `{"input":{"prompt":"a"}}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, float64(401), body["status"])

	tests := []struct{ body, field string }{
		{`{"input":{"duration":8}}`, "input.prompt"},
		{`{"input":{"prompt":"a","duration":5}}`, "input.duration"},
		{`{"input":{"prompt":"a","aspect_ratio":"1:1"}}`, "input.aspect_ratio"},
		{`{"input":{"prompt":"a","resolution":"4k"}}`, "input.resolution"},
		{`{}`, "input"},
	}
	for _, tt := range tests {
		code, _, body := call(t, srv, http.MethodPost, create, "Bearer t", tt.body)
		require.Equal(t, http.StatusUnprocessableEntity, code, tt.body)
		require.Equal(t, "Input validation failed", body["title"])
		require.Contains(t, body["detail"], tt.field)
	}
	code, _, body = call(t, srv, http.MethodPost, create, "Bearer t", `{"input":{"prompt":"a"}}`, "Cancel-After", "soon")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["detail"], "Cancel-After")
	require.Zero(t, s.Core().Stats().Submitted)
}

func TestDevStackEndpoints(t *testing.T) {
	t.Parallel()
	s, srv := setup(t)
	for range 3 {
		code, _, _ := call(t, srv, http.MethodPost, create, "Bearer t", `{"input":{"prompt":"same"}}`)
		require.Equal(t, http.StatusCreated, code)
	}
	code, _, stats := call(t, srv, http.MethodGet, "/__sim/stats", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(3), stats["submitted"])
	require.Equal(t, float64(2), stats["repeated_prompts"])

	s.Core().SetFaults(sim.Faults{ErrorRate: 1})
	for i := 0; ; i++ {
		require.Less(t, i, 500)
		code, hdr, body := call(t, srv, http.MethodGet, "/v1/predictions", "Bearer t", "")
		require.Contains(t, []int{429, 500, 502}, code)
		require.Equal(t, float64(code), body["status"])
		if code == http.StatusTooManyRequests {
			require.Equal(t, "1", hdr.Get("Retry-After"))
			require.Contains(t, body["detail"], "resets in ~1s")
			return
		}
	}
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := replicatesim.New(sim.Config{Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	var ids []string // oldest first
	for i := range 5 {
		code, _, p := call(t, srv, http.MethodPost, create, "Bearer t", `{"input":{"prompt":"fox `+strconv.Itoa(i)+`"}}`)
		require.Equal(t, http.StatusCreated, code)
		ids = append(ids, p["id"].(string))
		clk.Advance(time.Minute)
	}
	s.SetPageSize(2)

	// all follows "next" from path and returns the ids, newest first.
	all := func(path string) []string {
		var got []string
		for pages := 0; path != ""; pages++ {
			require.Less(t, pages, 10)
			code, _, body := call(t, srv, http.MethodGet, path, "Bearer t", "")
			require.Equal(t, http.StatusOK, code, path)
			require.LessOrEqual(t, len(body["results"].([]any)), 2)
			for _, r := range body["results"].([]any) {
				got = append(got, r.(map[string]any)["id"].(string))
			}
			path = ""
			if next, ok := body["next"].(string); ok {
				require.True(t, strings.HasPrefix(next, srv.URL+"/v1/predictions?"), next)
				path = strings.TrimPrefix(next, srv.URL)
			}
		}
		return got
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, all("/v1/predictions"))
	require.Equal(t, []string{ids[4], ids[3], ids[2]}, all("/v1/predictions?created_after=2026-11-25T12:02:00Z"),
		"created_after is inclusive, and kept on the next pages")
	require.Equal(t, []string{ids[1], ids[0]}, all("/v1/predictions?created_before=2026-11-25T12:02:00Z"))

	for _, q := range []string{"?cursor=bm9wZQ", "?created_after=yesterday"} {
		code, _, body := call(t, srv, http.MethodGet, "/v1/predictions"+q, "Bearer t", "")
		require.Equal(t, http.StatusBadRequest, code, q)
		require.NotEmpty(t, body["detail"])
	}
}
