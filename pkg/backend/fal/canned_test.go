package fal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/fal"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Bodies shaped like the examples of fal's queue documentation
// (https://docs.fal.ai/model-endpoints/queue, https://fal.ai/docs/errors)
// and the fal-ai/veo3.1 output schema. {{base}} is the test server's URL.
const (
	reqID        = "764cabcf-b745-4b3e-ae38-1200304cf45b"
	docSubmit    = `{"status":"IN_QUEUE","request_id":"` + reqID + `","response_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `","status_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `/status","cancel_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `/cancel","queue_position":0}`
	docInQueue   = `{"status":"IN_QUEUE","queue_position":3,"response_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `"}`
	docRunning   = `{"status":"IN_PROGRESS","response_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `","logs":[{"message":"Generating video","level":"INFO","source":"USER","timestamp":"2026-11-25T12:00:01.000Z"}]}`
	docCompleted = `{"status":"COMPLETED","response_url":"{{base}}/fal-ai/veo3.1/requests/` + reqID + `","logs":[],"metrics":{"inference_time":41.2}}`
	docResult    = `{"video":{"url":"https://v3.fal.media/files/penguin/veo31_output.mp4","content_type":"video/mp4","file_name":"output.mp4","file_size":2867212}}`
	docPolicy    = `{"detail":[{"loc":["body","prompt"],"msg":"The content was flagged by a content checker.","type":"content_policy_violation","url":"https://docs.fal.ai/errors#content_policy_violation","input":"the flagged input","categories":["violence"]}]}`
	docBadImage  = `{"detail":[{"loc":["body","image_url"],"msg":"Failed to load the image. Please ensure the image file is not corrupted and is in a supported format.","type":"image_load_error","url":"https://docs.fal.ai/errors#image_load_error","input":"https://example.com/a.png"}]}`
)

type reply struct {
	code   int
	body   string
	header map[string]string
}

// cannedServer answers the four queue calls with fixed replies and records
// the headers of the last submission.
type cannedServer struct {
	srv *httptest.Server
	replies

	mu         sync.Mutex
	lastSubmit http.Header
}

type replies struct{ submit, status, result, cancel reply }

func newCanned(t *testing.T, rs replies) *cannedServer {
	t.Helper()
	cs := &cannedServer{replies: rs}
	for _, r := range []*reply{&cs.submit, &cs.status, &cs.result, &cs.cancel} {
		if r.code == 0 {
			r.code = http.StatusOK
		}
	}
	if cs.submit.body == "" {
		cs.submit.body = docSubmit
	}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep reply
		switch {
		case r.Method == http.MethodPost:
			cs.mu.Lock()
			cs.lastSubmit = r.Header.Clone()
			cs.mu.Unlock()
			rep = cs.submit
		case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/cancel"):
			rep = cs.cancel
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/status"):
			rep = cs.status
		case r.Method == http.MethodGet:
			rep = cs.result
		default:
			http.NotFound(w, r)
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.code)
		_, _ = w.Write([]byte(strings.ReplaceAll(rep.body, "{{base}}", cs.srv.URL)))
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *cannedServer) backend(t *testing.T, cfg fal.Config) *fal.Backend {
	t.Helper()
	cfg.Endpoint, cfg.APIKey, cfg.HTTPClient = cs.srv.URL, testKey, cs.srv.Client()
	be, err := fal.New(cfg)
	require.NoError(t, err)
	return be
}

func TestSubmitCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		submit     reply
		wantClass  error // nil: success
		wantRetry  time.Duration
		wantInText string
	}{
		{name: "documented queue response", submit: reply{body: docSubmit}},
		{name: "content policy at submit", submit: reply{code: 422, body: docPolicy}, wantClass: errclass.ContentSafety, wantInText: "content_policy_violation"},
		{name: "validation error", submit: reply{code: 422, body: `{"detail":[{"loc":["body","duration"],"msg":"Input should be '4s', '6s' or '8s'","type":"literal_error","input":"5s"}]}`}, wantClass: errclass.Permanent, wantInText: "body.duration"},
		{name: "rate limited", submit: reply{code: 429, body: `{"detail":"Too many requests"}`, header: map[string]string{"Retry-After": "7"}}, wantClass: errclass.Retryable, wantRetry: 7 * time.Second},
		{name: "server error", submit: reply{code: 500, body: `{"detail":"Internal Server Error"}`}, wantClass: errclass.Retryable},
		{name: "refused key", submit: reply{code: 401, body: `{"detail":"Invalid Key Authorization header format"}`}, wantClass: errclass.Retryable, wantInText: "check FAL_KEY"},
		{name: "truncated 200", submit: reply{body: `{"request_id":"764cab`}, wantClass: errclass.Retryable, wantInText: "may be queued"},
		{name: "200 without request_id", submit: reply{body: `{"status":"IN_QUEUE"}`}, wantClass: errclass.Retryable, wantInText: "may be queued"},
		{name: "html gateway error", submit: reply{code: 502, body: `<html><body>Bad Gateway</body></html>`}, wantClass: errclass.Retryable, wantInText: "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{submit: tt.submit})
			h, err := cs.backend(t, fal.Config{}).Submit(context.Background(), request("a fox"))
			if tt.wantClass == nil {
				require.NoError(t, err)
				require.Contains(t, string(h), reqID)
				require.Contains(t, string(h), cs.srv.URL+"/fal-ai/veo3.1/requests/"+reqID+"/status")
				return
			}
			require.Error(t, err)
			backendtest.RequireClassified(t, err, tt.wantClass, tt.wantRetry, testKey)
			require.Contains(t, err.Error(), tt.wantInText)
		})
	}
}

func TestSubmitHeaders(t *testing.T) {
	t.Parallel()
	for _, noRetry := range []bool{false, true} {
		cs := newCanned(t, replies{})
		_, err := cs.backend(t, fal.Config{DisableQueueRetries: noRetry}).Submit(context.Background(), request("a fox"))
		require.NoError(t, err)
		cs.mu.Lock()
		h := cs.lastSubmit
		cs.mu.Unlock()
		require.Equal(t, "Key "+testKey, h.Get("Authorization"))
		require.Equal(t, "application/json", h.Get("Content-Type"))
		if noRetry {
			require.Equal(t, "1", h.Get("X-Fal-No-Retry"))
		} else {
			require.Empty(t, h.Get("X-Fal-No-Retry"))
		}
	}
}

func TestSubmitRebuildsForeignURLs(t *testing.T) {
	t.Parallel()
	foreign := strings.ReplaceAll(docSubmit, "{{base}}", "https://evil.example")
	cs := newCanned(t, replies{submit: reply{body: foreign}})
	h, err := cs.backend(t, fal.Config{}).Submit(context.Background(), request("a fox"))
	require.NoError(t, err)
	require.NotContains(t, string(h), "evil.example", "the key must never be sent to another host")
	require.Contains(t, string(h), cs.srv.URL+"/fal-ai/veo3.1/requests/"+reqID+"/cancel")
}

func TestPollCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      reply
		result      reply
		wantState   backend.State
		wantErr     error // class of the failed generation (Status.Err)
		wantPollErr error // class of the poll error
		wantRetry   time.Duration
		wantURL     string
		wantBilled  bool
		wantInText  string // in Status.Err's text
	}{
		{name: "in queue", status: reply{code: 202, body: docInQueue}, wantState: backend.StatePending},
		{name: "in progress", status: reply{code: 202, body: docRunning}, wantState: backend.StateRunning},
		{name: "completed", status: reply{body: docCompleted}, result: reply{body: docResult},
			wantState: backend.StateSucceeded, wantURL: "https://v3.fal.media/files/penguin/veo31_output.mp4"},
		{name: "completed with a content policy error",
			status:    reply{body: `{"status":"COMPLETED","error":"The content was flagged by a content checker.","error_type":"content_policy_violation","response_url":"{{base}}/x"}`},
			result:    reply{code: 422, body: docPolicy},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "completed with a content policy error, result call rate limited",
			status:    reply{body: `{"status":"COMPLETED","error":"The content was flagged by a content checker.","error_type":"content_policy_violation","response_url":"{{base}}/x"}`},
			result:    reply{code: 429, body: `{"detail":"Too many requests: concurrent request limit reached"}`},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety, wantInText: "flagged by a content checker"},
		{name: "completed with a runner error, result call rate limited",
			status:    reply{body: `{"status":"COMPLETED","error":"Internal server error","error_type":"runner_server_error"}`},
			result:    reply{code: 429, body: `{"detail":"Too many requests"}`},
			wantState: backend.StateFailed, wantErr: errclass.Retryable, wantInText: "Internal server error"},
		{name: "completed with a runner error",
			status:    reply{body: `{"status":"COMPLETED","error":"Internal server error","error_type":"runner_server_error"}`},
			result:    reply{code: 500, body: `{"detail":"Internal server error"}`, header: map[string]string{"X-Fal-Error-Type": "runner_server_error"}},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "completed, result is a validation error",
			status:    reply{body: docCompleted},
			result:    reply{code: 422, body: docBadImage},
			wantState: backend.StateFailed, wantErr: errclass.Permanent},
		{name: "completed, result is a content policy error without status error",
			status:    reply{body: docCompleted},
			result:    reply{code: 422, body: docPolicy},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "completed as canceled",
			status:    reply{body: `{"status":"COMPLETED","error":"Request was cancelled","error_type":"request_cancelled"}`},
			wantState: backend.StateCanceled, wantBilled: true},
		{name: "completed without a video", status: reply{body: docCompleted}, result: reply{body: `{"seed":42}`},
			wantState: backend.StateFailed, wantErr: errclass.Retryable, wantBilled: true},
		{name: "truncated status", status: reply{body: `{"status":"IN_QUE`}, wantPollErr: errclass.Retryable},
		{name: "status is an array", status: reply{body: `[]`}, wantPollErr: errclass.Retryable},
		{name: "status is null", status: reply{body: `null`}, wantPollErr: errclass.Retryable},
		{name: "unknown status", status: reply{body: `{"status":"SOMETHING_NEW"}`}, wantPollErr: errclass.Retryable},
		{name: "truncated result", status: reply{body: docCompleted}, result: reply{body: `{"video":{"url":"https://v3.fa`}, wantPollErr: errclass.Retryable},
		{name: "result gateway error without fal markers", status: reply{body: docCompleted}, result: reply{code: 502, body: `bad gateway`}, wantPollErr: errclass.Retryable},
		{name: "status rate limited", status: reply{code: 429, body: `{"detail":"Too many requests"}`, header: map[string]string{"Retry-After": "3"}},
			wantPollErr: errclass.Retryable, wantRetry: 3 * time.Second},
		{name: "status refused key", status: reply{code: 401, body: `{"detail":"Unauthorized"}`}, wantPollErr: errclass.Retryable},
		{name: "status unknown request", status: reply{code: 404, body: `{"detail":"Request not found"}`}, wantPollErr: errclass.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{status: tt.status, result: tt.result})
			be := cs.backend(t, fal.Config{})
			h, err := be.Submit(context.Background(), request("a fox"))
			require.NoError(t, err)
			st, err := be.Poll(context.Background(), h)
			if tt.wantPollErr != nil {
				backendtest.RequireClassified(t, err, tt.wantPollErr, tt.wantRetry, testKey)
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
			require.Contains(t, st.Err.Error(), reqID)
			require.Contains(t, st.Err.Error(), tt.wantInText)
			if tt.wantInText != "" {
				require.NotContains(t, st.Err.Error(), "Too many requests", "the failed result call is not the generation's error")
			}
		})
	}
}

func TestCancelCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cancel    reply
		wantClass error
	}{
		{"cancellation requested", reply{code: 202, body: `{"status":"CANCELLATION_REQUESTED"}`}, nil},
		{"ok", reply{body: `{"status":"OK"}`}, nil},
		{"already completed", reply{code: 400, body: `{"status":"ALREADY_COMPLETED"}`}, nil},
		{"not found", reply{code: 404, body: `{"status":"NOT_FOUND"}`}, nil},
		{"other bad request", reply{code: 400, body: `{"detail":"bad"}`}, errclass.Permanent},
		{"server error", reply{code: 503, body: `{"detail":"Service Unavailable"}`}, errclass.Retryable},
		{"refused key", reply{code: 401, body: `{"detail":"Unauthorized"}`}, errclass.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{cancel: tt.cancel})
			be := cs.backend(t, fal.Config{})
			h, err := be.Submit(context.Background(), request("a fox"))
			require.NoError(t, err)
			err = be.Cancel(context.Background(), h)
			if tt.wantClass == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tt.wantClass, errclass.Of(err), err)
		})
	}
}

func TestBadHandles(t *testing.T) {
	t.Parallel()
	cs := newCanned(t, replies{})
	be := cs.backend(t, fal.Config{})
	for _, h := range []backend.Handle{
		"",
		"not json",
		`{"request_id":""}`,
		`{"request_id":"x","status_url":"https://evil.example/s","response_url":"https://evil.example/r","cancel_url":"https://evil.example/c"}`,
	} {
		_, err := be.Poll(context.Background(), h)
		require.ErrorIs(t, err, errclass.Permanent, h)
		require.ErrorIs(t, be.Cancel(context.Background(), h), errclass.Permanent, h)
	}
}
