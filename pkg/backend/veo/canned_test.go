package veo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/veo"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Bodies shaped like the Veo on Vertex AI API reference
// (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation)
// and Google's error model ({"error": {"code", "message", "status"}}).
const (
	opName     = "projects/aiprod-test/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001/operations/a1b07c8e-7b5a-4aba-bb34-3e1ccb8afcc8"
	docStarted = `{"name":"` + opName + `"}`
	respType   = `"@type":"type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"`
	docDone    = `{"name":"` + opName + `","done":true,"response":{` + respType + `,"raiMediaFilteredCount":0,"videos":[{"gcsUri":"gs://aiprod-test-outputs/job/1/4891385683441393059/sample_0.mp4","mimeType":"video/mp4"}]}}`
)

func done(fields string) string { return `{"name":"` + opName + `","done":true,` + fields + `}` }

type reply struct {
	code   int
	body   string
	header map[string]string
}

type cannedServer struct {
	srv *httptest.Server
	replies

	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	path, auth string
	body       map[string]any
}

type replies struct{ predict, fetch reply }

func newCanned(t *testing.T, rs replies) *cannedServer {
	t.Helper()
	cs := &cannedServer{replies: rs}
	for _, r := range []*reply{&cs.predict, &cs.fetch} {
		if r.code == 0 {
			r.code = http.StatusOK
		}
	}
	if cs.predict.body == "" {
		cs.predict.body = docStarted
	}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		cs.mu.Lock()
		cs.requests = append(cs.requests, recorded{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
		cs.mu.Unlock()
		var rep reply
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, ":predictLongRunning"):
			rep = cs.predict
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, ":fetchPredictOperation"):
			rep = cs.fetch
		default:
			http.NotFound(w, r)
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.code)
		_, _ = w.Write([]byte(rep.body))
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *cannedServer) backend(t *testing.T) *veo.Backend {
	t.Helper()
	cfg := config(cs.srv.URL)
	cfg.HTTPClient = cs.srv.Client()
	be, err := veo.New(cfg)
	require.NoError(t, err)
	return be
}

func TestSubmitCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		predict    reply
		wantClass  error
		wantRetry  time.Duration
		wantInText string
	}{
		{name: "operation started", predict: reply{body: docStarted}},
		{name: "invalid argument", predict: reply{code: 400, body: `{"error":{"code":400,"message":"Unsupported output video duration 5 seconds, supported durations are [8,4,6] for feature text_to_video.","status":"INVALID_ARGUMENT"}}`},
			wantClass: errclass.Permanent, wantInText: "INVALID_ARGUMENT"},
		{name: "prompt refused", predict: reply{code: 400, body: `{"error":{"code":400,"message":"The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. Support codes: 17301594","status":"INVALID_ARGUMENT"}}`},
			wantClass: errclass.ContentSafety},
		{name: "quota exceeded with Retry-After", predict: reply{code: 429, body: `{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: veo-3.1-fast-generate-001.","status":"RESOURCE_EXHAUSTED"}}`, header: map[string]string{"Retry-After": "20"}},
			wantClass: errclass.Retryable, wantRetry: 20 * time.Second, wantInText: "RESOURCE_EXHAUSTED"},
		{name: "quota exceeded without Retry-After", predict: reply{code: 429, body: `{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED"}}`},
			wantClass: errclass.Retryable},
		{name: "permission denied", predict: reply{code: 403, body: `{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied on resource.","status":"PERMISSION_DENIED"}}`},
			wantClass: errclass.Retryable, wantInText: "service account"},
		{name: "model not found", predict: reply{code: 404, body: `{"error":{"code":404,"message":"Publisher Model ... was not found or your project does not have access to it.","status":"NOT_FOUND"}}`},
			wantClass: errclass.NotFound},
		{name: "unavailable", predict: reply{code: 503, body: `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`}, wantClass: errclass.Retryable},
		{name: "truncated 200", predict: reply{body: `{"name":"projects/aiprod-te`}, wantClass: errclass.Retryable, wantInText: "may have started"},
		{name: "200 without a name", predict: reply{body: `{}`}, wantClass: errclass.Retryable, wantInText: "may have started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{predict: tt.predict})
			h, err := cs.backend(t).Submit(context.Background(), request("a fox"))
			if tt.wantClass == nil {
				require.NoError(t, err)
				require.Equal(t, backend.Handle(opName), h)
				cs.mu.Lock()
				rec := cs.requests[0]
				cs.mu.Unlock()
				require.Equal(t, "/v1/projects/aiprod-test/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001:predictLongRunning", rec.path)
				require.Equal(t, "Bearer "+testToken, rec.auth)
				require.Len(t, rec.body["instances"], 1)
				return
			}
			require.Error(t, err)
			backendtest.RequireClassified(t, err, tt.wantClass, tt.wantRetry, testToken)
			require.Contains(t, err.Error(), tt.wantInText)
		})
	}
}

func TestPollCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fetch       reply
		wantState   backend.State
		wantErr     error
		wantPollErr error
		wantRetry   time.Duration
		wantURL     string
		wantBilled  bool
	}{
		{name: "running", fetch: reply{body: docStarted}, wantState: backend.StateRunning},
		{name: "running, done false", fetch: reply{body: `{"name":"` + opName + `","done":false}`}, wantState: backend.StateRunning},
		{name: "done with a video", fetch: reply{body: docDone}, wantState: backend.StateSucceeded,
			wantURL: "gs://aiprod-test-outputs/job/1/4891385683441393059/sample_0.mp4"},
		{name: "filtered by Responsible AI", fetch: reply{body: done(`"response":{` + respType + `,"raiMediaFilteredCount":1,"raiMediaFilteredReasons":["Veo could not generate videos because the input image violates Vertex AI's usage guidelines. Support codes: 15236754"]}`)},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "filtered count as a string", fetch: reply{body: done(`"response":{` + respType + `,"raiMediaFilteredCount":"2","raiMediaFilteredReasons":["x"]}`)},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "internal error", fetch: reply{body: done(`"error":{"code":13,"message":"Video generation failed due to an internal server issue. Please try again in a few minutes."}`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "resource exhausted", fetch: reply{body: done(`"error":{"code":8,"message":"Resource exhausted."}`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "invalid argument", fetch: reply{body: done(`"error":{"code":3,"message":"Image is too small."}`)},
			wantState: backend.StateFailed, wantErr: errclass.Permanent},
		{name: "invalid argument, usage guidelines", fetch: reply{body: done(`"error":{"code":3,"message":"The prompt violates Vertex AI's usage guidelines."}`)},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "cancelled", fetch: reply{body: done(`"error":{"code":1,"message":"CANCELLED"}`)},
			wantState: backend.StateCanceled, wantBilled: true},
		{name: "inline video without storage", fetch: reply{body: done(`"response":{` + respType + `,"videos":[{"bytesBase64Encoded":"AAAAGGZ0eXA=","mimeType":"video/mp4"}]}`)},
			wantState: backend.StateFailed, wantErr: errclass.Permanent, wantBilled: true},
		{name: "done with nothing", fetch: reply{body: done(`"response":{` + respType + `}`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "done without response", fetch: reply{body: done(`"metadata":{}`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "truncated", fetch: reply{body: `{"name":"projects/aiprod-test/loc`}, wantPollErr: errclass.Retryable},
		{name: "wrong type", fetch: reply{body: `{"done":"yes"}`}, wantPollErr: errclass.Retryable},
		{name: "rate limited", fetch: reply{code: 429, body: `{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}}`, header: map[string]string{"Retry-After": "4"}},
			wantPollErr: errclass.Retryable, wantRetry: 4 * time.Second},
		{name: "unknown operation", fetch: reply{code: 404, body: `{"error":{"code":404,"message":"Operation not found.","status":"NOT_FOUND"}}`}, wantPollErr: errclass.NotFound},
		{name: "html 502", fetch: reply{code: 502, body: `<html><title>502 Server Error</title></html>`}, wantPollErr: errclass.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{fetch: tt.fetch})
			st, err := cs.backend(t).Poll(context.Background(), opName)
			cs.mu.Lock()
			rec := cs.requests[0]
			cs.mu.Unlock()
			require.Equal(t, "/v1/projects/aiprod-test/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001:fetchPredictOperation", rec.path)
			require.Equal(t, map[string]any{"operationName": opName}, rec.body)
			if tt.wantPollErr != nil {
				backendtest.RequireClassified(t, err, tt.wantPollErr, tt.wantRetry, testToken)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantState, st.State)
			require.Equal(t, tt.wantURL, st.VideoURL)
			require.Equal(t, tt.wantBilled, st.Billed)
			if tt.wantErr == nil {
				require.NoError(t, st.Err)
				return
			}
			require.Equal(t, tt.wantErr, errclass.Of(st.Err), st.Err)
			require.Contains(t, st.Err.Error(), "a1b07c8e")
		})
	}
}

func TestBadHandles(t *testing.T) {
	t.Parallel()
	cs := newCanned(t, replies{})
	be := cs.backend(t)
	for _, h := range []backend.Handle{
		"", "operations/123",
		"projects/p/locations/l/publishers/google/models/m/operations/../../x",
		"projects/p/locations/l/publishers/google/models/m:predict/operations/1",
	} {
		_, err := be.Poll(context.Background(), h)
		require.ErrorIs(t, err, errclass.Permanent, h)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	require.Empty(t, cs.requests)
}
