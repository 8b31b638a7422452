package luma_test

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
	"github.com/aiprod/aiprod/pkg/backend/luma"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// These tests play back bodies shaped like Dream Machine's documented
// Generation object (lumaai-python types/generation.py and the API
// reference) and the failure reasons of https://docs.lumalabs.ai/docs/errors.

const genID = "d1968551-6113-4b46-b567-09210c2e79b0"

const completedBody = `{
  "id": "d1968551-6113-4b46-b567-09210c2e79b0",
  "generation_type": "video",
  "state": "completed",
  "failure_reason": null,
  "created_at": "2024-11-07T18:43:03.327Z",
  "assets": {
    "video": "https://storage.cdn-luma.com/dream_machine/7e4fa4b9/watermarked_video0.mp4",
    "image": "https://storage.cdn-luma.com/dream_machine/7e4fa4b9/video_0_thumb.jpg",
    "progress_video": null
  },
  "model": "ray-2",
  "request": {
    "generation_type": "video",
    "prompt": "A teddy bear in sunglasses playing electric guitar and dancing",
    "aspect_ratio": "16:9",
    "loop": false,
    "keyframes": null,
    "callback_url": null,
    "model": "ray-2",
    "resolution": "720p",
    "duration": "9s"
  }
}`

func canned(t *testing.T, status int, header map[string]string, body string, inspect func(r *http.Request, body []byte)) *luma.Backend {
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
	b, err := luma.New(luma.Config{Endpoint: srv.URL + "/dream-machine/v1/", APIKey: testKey, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return b
}

func failed(reason string) string {
	return `{"id":"` + genID + `","generation_type":"video","state":"failed","failure_reason":` + reason + `,"created_at":"2024-11-07T18:43:03.327Z","assets":null}`
}

func TestDocumentedGenerationBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		state backend.State
		url   string
		secs  int
		class error
	}{
		{"queued", `{"id":"` + genID + `","generation_type":"video","state":"queued","failure_reason":null,"created_at":"2024-11-07T18:43:03.327Z","assets":null,"request":{"duration":"5s"}}`, backend.StatePending, "", 0, nil},
		{"dreaming", `{"id":"` + genID + `","state":"dreaming","failure_reason":null,"assets":{"progress_video":null}}`, backend.StateRunning, "", 0, nil},
		{"completed", completedBody, backend.StateSucceeded, "https://storage.cdn-luma.com/dream_machine/7e4fa4b9/watermarked_video0.mp4", 9, nil},
		{"completed without request echo", `{"id":"x","state":"completed","assets":{"video":"https://cdn/v.mp4"}}`, backend.StateSucceeded, "https://cdn/v.mp4", 0, nil},
		{"completed with odd request echo", `{"id":"x","state":"completed","assets":{"video":"https://cdn/v.mp4"},"request":{"duration":5}}`, backend.StateSucceeded, "https://cdn/v.mp4", 0, nil},
		{"blacklisted words", failed(`"Contains blacklisted words"`), backend.StateFailed, "", 0, errclass.ContentSafety},
		{"frame moderation", failed(`"Frame moderation failed"`), backend.StateFailed, "", 0, errclass.ContentSafety},
		{"prompt moderation", failed(`"Advanced prompt moderation failed"`), backend.StateFailed, "", 0, errclass.ContentSafety},
		{"unreadable keyframes", failed(`"Failed to read user input frames"`), backend.StateFailed, "", 0, errclass.Permanent},
		{"prompt processing", failed(`"Prompt processing failed"`), backend.StateFailed, "", 0, errclass.Retryable},
		{"no reason", failed(`null`), backend.StateFailed, "", 0, errclass.Retryable},
		{"failure_code moderated", `{"id":"x","state":"failed","failure_code":"content_moderated","failure_reason":"Rejected"}`, backend.StateFailed, "", 0, errclass.ContentSafety},
		{"failure_code generation_failed", `{"id":"x","state":"failed","failure_code":"generation_failed","failure_reason":"Internal model error"}`, backend.StateFailed, "", 0, errclass.Retryable},
		{"failure_code corrupt input", `{"id":"x","state":"failed","failure_code":"corrupt_input","failure_reason":"could not decode"}`, backend.StateFailed, "", 0, errclass.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			b := canned(t, http.StatusOK, nil, tt.body, func(r *http.Request, _ []byte) {
				path = r.Method + " " + r.URL.Path
				require.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
			})
			st, err := b.Poll(context.Background(), genID)
			require.NoError(t, err)
			require.Equal(t, "GET /dream-machine/v1/generations/"+genID, path)
			require.Equal(t, tt.state, st.State)
			require.Equal(t, tt.url, st.VideoURL)
			require.Equal(t, tt.secs, st.DurationSeconds)
			if tt.class == nil {
				require.NoError(t, st.Err)
				return
			}
			require.Equal(t, tt.class, errclass.Of(st.Err))
			require.False(t, st.Billed)
		})
	}
}

func TestMalformedBodiesAreRetryableErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"truncated", completedBody[:120]},
		{"empty", ``},
		{"html", `<html><body>502 Bad Gateway</body></html>`},
		{"array", `[]`},
		{"null", `null`},
		{"wrong type", `{"id":"x","state":7}`},
		{"unknown state", `{"id":"x","state":"teleporting"}`},
		{"completed without video", `{"id":"x","state":"completed","assets":{"image":"https://cdn/i.jpg"}}`},
		{"completed with null assets", `{"id":"x","state":"completed","assets":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := canned(t, http.StatusOK, nil, tt.body, nil)
			require.NotPanics(t, func() {
				_, err := b.Poll(context.Background(), genID)
				require.Error(t, err)
				require.ErrorIs(t, err, errclass.Retryable)
				require.ErrorContains(t, err, "luma: get generation")
				requireNoKey(t, err)
			})
		})
	}
}

func TestSubmitRequestBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  backend.SubmitRequest
		want map[string]any
	}{
		{"text", backend.SubmitRequest{Model: "ray-2", Prompt: "a teddy bear", DurationSeconds: 9, Resolution: job.Res1080p, AspectRatio: job.Aspect9x16},
			map[string]any{"model": "ray-2", "prompt": "a teddy bear", "aspect_ratio": "9:16", "duration": "9s", "resolution": "1080p"}},
		{"image", backend.SubmitRequest{Model: "ray-flash-2", Prompt: "a teddy bear", ImageURL: "https://example.com/f.png", DurationSeconds: 5, Resolution: job.Res540p, AspectRatio: job.Aspect1x1},
			map[string]any{"model": "ray-flash-2", "prompt": "a teddy bear", "aspect_ratio": "1:1", "duration": "5s", "resolution": "540p",
				"keyframes": map[string]any{"frame0": map[string]any{"type": "image", "url": "https://example.com/f.png"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got map[string]any
			var path string
			created := `{"id":"` + genID + `","generation_type":"video","state":"queued","failure_reason":null,"created_at":"2024-11-07T18:43:03.327Z","assets":null}`
			b := canned(t, http.StatusCreated, nil, created, func(r *http.Request, body []byte) {
				path = r.Method + " " + r.URL.Path
				require.Equal(t, "application/json", r.Header.Get("Content-Type"))
				require.NoError(t, json.Unmarshal(body, &got))
			})
			h, err := b.Submit(context.Background(), tt.req)
			require.NoError(t, err)
			require.Equal(t, backend.Handle(genID), h)
			require.Equal(t, "POST /dream-machine/v1/generations/video", path)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		class      error
		retryAfter time.Duration
		contains   string
	}{
		{"400 detail string", 400, nil, `{"detail":"Prompt is too short, minimum length is 3 characters"}`, errclass.Permanent, 0, "Prompt is too short"},
		{"422 detail list", 422, nil, `{"detail":[{"loc":["body","aspect_ratio"],"msg":"Input should be '1:1', '16:9' or '9:16'","type":"literal_error"}]}`, errclass.Permanent, 0, "body.aspect_ratio: Input should be"},
		{"401", 401, nil, `{"detail":"Invalid API key"}`, errclass.Retryable, 0, "Invalid API key"},
		{"402", 402, nil, `{"detail":"Insufficient credits"}`, errclass.Retryable, 0, "Insufficient credits"},
		{"403", 403, nil, `{"detail":"Forbidden"}`, errclass.Retryable, 0, "403"},
		{"413", 413, nil, `{"detail":"Image too large"}`, errclass.Permanent, 0, "413"},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "12"}, `{"detail":"Too many requests"}`, errclass.Retryable, 12 * time.Second, "429"},
		{"429 without Retry-After", 429, nil, `{"detail":"Too many concurrent generations"}`, errclass.Retryable, 0, "concurrent"},
		{"500", 500, nil, `Internal Server Error`, errclass.Retryable, 0, "500"},
		{"502 empty", 502, nil, ``, errclass.Retryable, 0, "empty body"},
		{"503", 503, nil, `{"detail":"Image ingestion unavailable"}`, errclass.Retryable, 0, "ingestion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := canned(t, tt.status, tt.header, tt.body, nil)
			_, err := b.Submit(context.Background(), request())
			require.Equal(t, tt.class, errclass.Of(err))
			require.ErrorContains(t, err, tt.contains)
			requireNoKey(t, err)
			d, ok := errclass.RetryAfter(err)
			require.Equal(t, tt.retryAfter != 0, ok)
			require.Equal(t, tt.retryAfter, d)
		})
	}
}

func TestPoll404IsNotFound(t *testing.T) {
	t.Parallel()
	b := canned(t, http.StatusNotFound, nil, `{"detail":"Generation not found"}`, nil)
	_, err := b.Poll(context.Background(), genID)
	require.ErrorIs(t, err, errclass.NotFound)
}

func TestSubmitUnreadableAcceptance(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"id":`, `{}`, `<html>`} {
		b := canned(t, http.StatusCreated, nil, body, nil)
		_, err := b.Submit(context.Background(), request())
		require.ErrorIs(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "the generation may exist")
	}
}

func TestCancelStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		class  error
	}{
		{http.StatusNoContent, nil},
		{http.StatusOK, nil},
		{http.StatusNotFound, nil},
		{http.StatusBadGateway, errclass.Retryable},
		{http.StatusUnprocessableEntity, errclass.Permanent},
	}
	for _, tt := range tests {
		var method string
		b := canned(t, tt.status, nil, `{"detail":"x"}`, func(r *http.Request, _ []byte) { method = r.Method + " " + r.URL.Path })
		err := b.Cancel(context.Background(), genID)
		require.Equal(t, "DELETE /dream-machine/v1/generations/"+genID, method)
		if tt.class == nil {
			require.NoError(t, err, "status %d", tt.status)
		} else {
			require.Equal(t, tt.class, errclass.Of(err), "status %d", tt.status)
		}
	}
}
