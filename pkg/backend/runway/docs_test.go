package runway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// These tests play back response bodies shaped like the examples in
// Runway's API reference (https://docs.dev.runwayml.com/api) and task
// failure guide (https://docs.dev.runwayml.com/errors/task-failures).

const taskID = "17f20503-6c24-4c16-946b-35dbbce2af2f"

// canned serves one status, headers and body for every request, and hands
// each request to inspect (when set) first.
func canned(t *testing.T, status int, header map[string]string, body string, inspect func(r *http.Request, body []byte)) *runway.Backend {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if inspect != nil {
			inspect(r, b)
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	b, err := runway.New(runway.Config{Endpoint: srv.URL + "/", APIKey: testKey, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return b
}

func TestDocumentedTaskBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		state    backend.State
		progress float64
		url      string
		class    error // of Status.Err
		billed   bool
	}{
		{"pending", `{"id":"` + taskID + `","status":"PENDING","createdAt":"2024-06-27T19:49:32.334Z"}`, backend.StatePending, 0, "", nil, false},
		{"throttled", `{"id":"` + taskID + `","status":"THROTTLED","createdAt":"2024-06-27T19:49:32.334Z"}`, backend.StatePending, 0, "", nil, false},
		{"running", `{"id":"` + taskID + `","status":"RUNNING","createdAt":"2024-06-27T19:49:32.335Z","progress":0.4}`, backend.StateRunning, 0.4, "", nil, false},
		{"running without progress", `{"id":"` + taskID + `","status":"RUNNING","createdAt":"2024-06-27T19:49:32.335Z"}`, backend.StateRunning, 0, "", nil, false},
		{"running progress clamped", `{"id":"` + taskID + `","status":"RUNNING","progress":1.7}`, backend.StateRunning, 1, "", nil, false},
		{"succeeded", `{"id":"` + taskID + `","status":"SUCCEEDED","createdAt":"2024-06-27T19:49:32.336Z","output":["https://dnznrvs05pmza.cloudfront.net/output.mp4?_jwt=..."]}`,
			backend.StateSucceeded, 1, "https://dnznrvs05pmza.cloudfront.net/output.mp4?_jwt=...", nil, false},
		{"failed safety input text", `{"id":"` + taskID + `","status":"FAILED","createdAt":"2024-06-27T19:49:32.337Z","failure":"Content moderation failed.","failureCode":"SAFETY.INPUT.TEXT"}`,
			backend.StateFailed, 0, "", errclass.ContentSafety, false},
		{"failed safety output", `{"id":"x","status":"FAILED","failure":"Output rejected.","failureCode":"SAFETY.OUTPUT.VIDEO"}`, backend.StateFailed, 0, "", errclass.ContentSafety, false},
		{"failed preprocessing safety", `{"id":"x","status":"FAILED","failureCode":"INPUT_PREPROCESSING.SAFETY.TEXT"}`, backend.StateFailed, 0, "", errclass.ContentSafety, false},
		{"failed preprocessing internal", `{"id":"x","status":"FAILED","failureCode":"INPUT_PREPROCESSING.INTERNAL"}`, backend.StateFailed, 0, "", errclass.Retryable, false},
		{"failed bad output", `{"id":"x","status":"FAILED","failure":"An unexpected error occurred.","failureCode":"INTERNAL.BAD_OUTPUT.CODE01"}`, backend.StateFailed, 0, "", errclass.Retryable, false},
		{"failed asset", `{"id":"x","status":"FAILED","failure":"Invalid asset.","failureCode":"ASSET.INVALID"}`, backend.StateFailed, 0, "", errclass.Permanent, false},
		{"failed without code", `{"id":"x","status":"FAILED","failure":"Something broke."}`, backend.StateFailed, 0, "", errclass.Retryable, false},
		{"cancelled", `{"id":"` + taskID + `","status":"CANCELLED","createdAt":"2024-06-27T19:49:32.338Z"}`, backend.StateCanceled, 0, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			b := canned(t, http.StatusOK, nil, tt.body, func(r *http.Request, _ []byte) {
				path = r.Method + " " + r.URL.Path
				require.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
				require.Equal(t, runway.APIVersion, r.Header.Get("X-Runway-Version"))
			})
			st, err := b.Poll(context.Background(), taskID)
			require.NoError(t, err)
			require.Equal(t, "GET /v1/tasks/"+taskID, path)
			require.Equal(t, tt.state, st.State)
			require.InDelta(t, tt.progress, st.Progress, 1e-9)
			require.Equal(t, tt.url, st.VideoURL)
			require.Equal(t, tt.billed, st.Billed)
			if tt.class == nil {
				require.NoError(t, st.Err)
				return
			}
			require.Equal(t, tt.class, errclass.Of(st.Err))
		})
	}
}

func TestMalformedBodiesAreRetryableErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"truncated", `{"id":"` + taskID + `","status":"RUNN`},
		{"empty", ``},
		{"html", `<html><body>502 Bad Gateway</body></html>`},
		{"array", `[]`},
		{"null", `null`},
		{"wrong type", `{"id":"x","status":"RUNNING","progress":"half"}`},
		{"unknown status", `{"id":"x","status":"EXPLODED"}`},
		{"succeeded without output", `{"id":"x","status":"SUCCEEDED","output":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := canned(t, http.StatusOK, nil, tt.body, nil)
			require.NotPanics(t, func() {
				_, err := b.Poll(context.Background(), taskID)
				require.Error(t, err)
				require.ErrorIs(t, err, errclass.Retryable)
				require.ErrorContains(t, err, "runway: get task")
				requireNoKey(t, err)
			})
		})
	}
}

func TestSubmitRequestBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  backend.SubmitRequest
		path string
		want map[string]any
	}{
		{
			"text to video sends audio explicitly",
			backend.SubmitRequest{Model: "veo3.1_fast", Prompt: "a fox", DurationSeconds: 8, Resolution: job.Res1080p, AspectRatio: job.Aspect16x9},
			"/v1/text_to_video",
			map[string]any{"model": "veo3.1_fast", "promptText": "a fox", "ratio": "1920:1080", "duration": 8.0, "audio": false},
		},
		{
			"image to video",
			backend.SubmitRequest{Model: "gen4_turbo", Prompt: "a fox", ImageURL: "https://example.com/f.png", DurationSeconds: 10, Resolution: job.Res720p, AspectRatio: job.Aspect9x16},
			"/v1/image_to_video",
			map[string]any{"model": "gen4_turbo", "promptText": "a fox", "promptImage": "https://example.com/f.png", "ratio": "720:1280", "duration": 10.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got map[string]any
			var path, ctype string
			b := canned(t, http.StatusOK, nil, `{"id":"497f6eca-6276-4993-bfeb-53cbbbba6f08"}`, func(r *http.Request, body []byte) {
				path, ctype = r.Method+" "+r.URL.Path, r.Header.Get("Content-Type")
				require.NoError(t, json.Unmarshal(body, &got))
			})
			h, err := b.Submit(context.Background(), tt.req)
			require.NoError(t, err)
			require.Equal(t, backend.Handle("497f6eca-6276-4993-bfeb-53cbbbba6f08"), h)
			require.Equal(t, "POST "+tt.path, path)
			require.Equal(t, "application/json", ctype)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		class      error
		retryAfter time.Duration // 0: none
		contains   string
	}{
		{"400 carries the provider message", 400, nil, `{"error":"Validation of body failed: ratio: expected one of 1280:720, 720:1280."}`, errclass.Permanent, 0, "ratio: expected one of"},
		{"400 with a plain body", 400, nil, `bad request`, errclass.Permanent, 0, "bad request"},
		{"401", 401, nil, `{"error":"Invalid API key."}`, errclass.Retryable, 0, "Invalid API key"},
		{"402 out of credits", 402, nil, `{"error":"You do not have enough credits."}`, errclass.Retryable, 0, "credits"},
		{"404", 404, nil, `{"error":"Not found."}`, errclass.NotFound, 0, "404"},
		{"429 Retry-After seconds", 429, map[string]string{"Retry-After": "7"}, `{"error":"Too many requests."}`, errclass.Retryable, 7 * time.Second, "429"},
		{"429 Retry-After date", 429, map[string]string{"Retry-After": httpDate}, `{"error":"Too many requests."}`, errclass.Retryable, 90 * time.Second, "429"},
		{"429 without Retry-After", 429, nil, `{"error":"Too many requests."}`, errclass.Retryable, 0, "429"},
		{"502 html", 502, nil, `<html>Bad Gateway</html>`, errclass.Retryable, 0, "502"},
		{"503 shedding load", 503, nil, `{"error":"Service unavailable."}`, errclass.Retryable, 0, "503"},
		{"504", 504, nil, ``, errclass.Retryable, 0, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := canned(t, tt.status, tt.header, tt.body, nil)
			_, err := b.Submit(context.Background(), textRequest("veo3.1_fast"))
			require.Error(t, err)
			require.Equal(t, tt.class, errclass.Of(err))
			require.ErrorContains(t, err, tt.contains)
			requireNoKey(t, err)
			d, ok := errclass.RetryAfter(err)
			if tt.retryAfter == 0 {
				require.False(t, ok)
			} else {
				require.True(t, ok)
				require.InDelta(t, tt.retryAfter.Seconds(), d.Seconds(), 2)
			}
		})
	}
}

func TestSubmitUnreadableAcceptance(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"id":`, `{}`, `not json`} {
		b := canned(t, http.StatusOK, nil, body, nil)
		_, err := b.Submit(context.Background(), textRequest("veo3.1_fast"))
		require.ErrorIs(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "the task may exist")
	}
}

func TestCancelStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		class  error // nil: success
	}{
		{http.StatusNoContent, nil},
		{http.StatusOK, nil},
		{http.StatusNotFound, nil},
		{http.StatusInternalServerError, errclass.Retryable},
		{http.StatusBadRequest, errclass.Permanent},
	}
	for _, tt := range tests {
		var method string
		b := canned(t, tt.status, nil, `{"error":"x"}`, func(r *http.Request, _ []byte) { method = r.Method + " " + r.URL.Path })
		err := b.Cancel(context.Background(), taskID)
		require.Equal(t, "DELETE /v1/tasks/"+taskID, method)
		if tt.class == nil {
			require.NoError(t, err, "status %d", tt.status)
		} else {
			require.Equal(t, tt.class, errclass.Of(err), "status %d", tt.status)
		}
	}
}
