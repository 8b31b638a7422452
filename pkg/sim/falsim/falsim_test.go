package falsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/falsim"
)

func setup(t *testing.T) (*falsim.Sim, *httptest.Server) {
	t.Helper()
	s := falsim.New(sim.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, host, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
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

func TestSubmitAnswersAbsoluteURLsOnTheRequestHost(t *testing.T) {
	t.Parallel()
	_, srv := setup(t)
	code, _, body := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "sim.example:9000", "Key k", `{"prompt":"a fox"}`)
	require.Equal(t, http.StatusOK, code)
	id := body["request_id"].(string)
	root := "http://sim.example:9000/fal-ai/veo3.1/requests/" + id
	require.Equal(t, root, body["response_url"])
	require.Equal(t, root+"/status", body["status_url"])
	require.Equal(t, root+"/cancel", body["cancel_url"])

	code, _, body = call(t, srv, http.MethodGet, "/fal-ai/veo3.1/requests/"+id+"/status", "", "Key k", "")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, "IN_QUEUE", body["status"])
	code, _, _ = call(t, srv, http.MethodGet, "/fal-ai/other/requests/"+id+"/status", "", "Key k", "")
	require.Equal(t, http.StatusNotFound, code, "a request is only known under its own app")
}

func TestDevStackEndpoints(t *testing.T) {
	t.Parallel()
	s, srv := setup(t)
	for range 2 {
		code, _, _ := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "", "Key k", `{"prompt":"same prompt"}`)
		require.Equal(t, http.StatusOK, code)
	}
	code, _, stats := call(t, srv, http.MethodGet, "/__sim/stats", "", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(2), stats["submitted"])
	require.Equal(t, float64(1), stats["repeated_prompts"])

	code, _, _ = call(t, srv, http.MethodPost, "/__sim/faults", "", "", `{"down":true}`)
	require.Equal(t, http.StatusOK, code)
	require.True(t, s.Core().Faults().Down)
	code, _, body := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "", "Key k", `{"prompt":"a fox"}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.NotEmpty(t, body["detail"])

	s.Core().SetFaults(sim.Faults{ErrorRate: 1})
	for i := 0; ; i++ {
		require.Less(t, i, 500)
		code, hdr, body := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "", "Key k", `{"prompt":"a fox"}`)
		require.Contains(t, []int{429, 500, 502}, code)
		require.NotEmpty(t, body["detail"])
		if code == http.StatusTooManyRequests {
			require.Equal(t, "1", hdr.Get("Retry-After"))
			return
		}
	}
}

func TestAuthAndValidation(t *testing.T) {
	t.Parallel()
	s, srv := setup(t)
	for _, auth := range []string{"", "Bearer k", "Key "} {
		code, _, body := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "", auth, `{"prompt":"a fox"}`)
		require.Equal(t, http.StatusUnauthorized, code, auth)
		require.NotEmpty(t, body["detail"])
	}
	s.Core().SetCredential("right")
	code, _, _ := call(t, srv, http.MethodPost, "/fal-ai/veo3.1/fast", "", "Key wrong", `{"prompt":"a fox"}`)
	require.Equal(t, http.StatusUnauthorized, code)

	tests := []struct{ path, body, field string }{
		{"/fal-ai/veo3.1/fast", `{"duration":"8s"}`, "prompt"},
		{"/fal-ai/veo3.1/fast", `{"prompt":"a","aspect_ratio":"1:1"}`, "aspect_ratio"},
		{"/fal-ai/veo3.1/fast", `{"prompt":"a","resolution":"540p"}`, "resolution"},
		{"/fal-ai/veo3.1/fast/image-to-video", `{"prompt":"a"}`, "image_url"},
		{"/fal-ai/veo3.1/fast", `not json`, ""},
	}
	for _, tt := range tests {
		code, _, body := call(t, srv, http.MethodPost, tt.path, "", "Key right", tt.body)
		require.Equal(t, http.StatusUnprocessableEntity, code, tt.body)
		detail, _ := json.Marshal(body["detail"])
		require.Contains(t, string(detail), tt.field)
	}
	require.Zero(t, s.Core().Stats().Submitted)
}
