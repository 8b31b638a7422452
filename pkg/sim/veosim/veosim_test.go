package veosim_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/veosim"
)

const models = "/v1/projects/p/locations/us-central1/publishers/google/models/"

func call(t *testing.T, srv *httptest.Server, path, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
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

func googleStatus(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

func TestInlineVideoWithoutStorageURI(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var elapsed atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	s := veosim.New(sim.Config{QueueTime: time.Millisecond, RunTime: time.Millisecond, Now: now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	code, _, op := call(t, srv, models+"veo-3.1-fast-generate-001:predictLongRunning", "Bearer t", `{"instances":[{"prompt":"a fox"}],"parameters":{}}`)
	require.Equal(t, http.StatusOK, code)
	name := op["name"].(string)
	require.True(t, strings.HasPrefix(name, "projects/p/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001/operations/"))

	code, _, got := call(t, srv, models+"veo-3.1-fast-generate-001:fetchPredictOperation", "Bearer t", `{"operationName":"`+name+`"}`)
	require.Equal(t, http.StatusOK, code)
	_, hasDone := got["done"]
	require.False(t, hasDone, "proto3 JSON omits done=false")

	elapsed.Store(int64(time.Second))
	_, _, got = call(t, srv, models+"veo-3.1-fast-generate-001:fetchPredictOperation", "Bearer t", `{"operationName":"`+name+`"}`)
	require.Equal(t, true, got["done"])
	videos := got["response"].(map[string]any)["videos"].([]any)
	v := videos[0].(map[string]any)
	require.Nil(t, v["gcsUri"])
	raw, err := base64.StdEncoding.DecodeString(v["bytesBase64Encoded"].(string))
	require.NoError(t, err)
	require.Equal(t, sim.VideoBytes, raw)
}

func TestRoutingAuthAndValidation(t *testing.T) {
	t.Parallel()
	s := veosim.New(sim.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	code, _, body := call(t, srv, models+"veo-3.1-fast-generate-001:predictLongRunning", "", `{}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "UNAUTHENTICATED", googleStatus(body))

	code, _, body = call(t, srv, models+"gemini-2.5-pro:predictLongRunning", "Bearer t", `{}`)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "NOT_FOUND", googleStatus(body))
	code, _, _ = call(t, srv, models+"veo-3.1-fast-generate-001:explode", "Bearer t", `{}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _, _ = call(t, srv, models+"veo-3.1-fast-generate-001:fetchPredictOperation", "Bearer t", `{"operationName":"projects/p/locations/l/publishers/google/models/veo-3.1-fast-generate-001/operations/nope"}`)
	require.Equal(t, http.StatusNotFound, code)

	for _, body := range []string{
		`{"instances":[]}`,
		`{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":5}}`,
		`{"instances":[{"prompt":"a"}],"parameters":{"aspectRatio":"1:1"}}`,
		`{"instances":[{"prompt":"a"}],"parameters":{"storageUri":"https://bucket"}}`,
		`{"instances":[{"prompt":"a","image":{"gcsUri":"https://x/y.png"}}]}`,
		`{"instances":[{"prompt":"a","image":{"bytesBase64Encoded":"***"}}]}`,
		`not json`,
	} {
		code, _, got := call(t, srv, models+"veo-3.1-fast-generate-001:predictLongRunning", "Bearer t", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Equal(t, "INVALID_ARGUMENT", googleStatus(got), body)
	}
	require.Zero(t, s.Core().Stats().Submitted)
}

func TestDevStackEndpoints(t *testing.T) {
	t.Parallel()
	s := veosim.New(sim.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/__sim/faults", strings.NewReader(`{"error_rate":1}`))
	require.NoError(t, err)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	for i := 0; ; i++ {
		require.Less(t, i, 500)
		code, hdr, body := call(t, srv, models+"veo-3.1-fast-generate-001:predictLongRunning", "Bearer t", `{"instances":[{"prompt":"a"}]}`)
		require.Contains(t, []int{429, 500, 502}, code)
		require.NotEmpty(t, googleStatus(body))
		if code == http.StatusTooManyRequests {
			require.Equal(t, "RESOURCE_EXHAUSTED", googleStatus(body))
			require.Equal(t, "1", hdr.Get("Retry-After"))
			return
		}
	}
}
