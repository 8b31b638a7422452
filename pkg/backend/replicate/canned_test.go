package replicate_test

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
	"github.com/aiprod/aiprod/pkg/backend/replicate"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Bodies shaped like the examples of Replicate's HTTP API reference
// (https://replicate.com/docs/reference/http): the prediction object, RFC
// 7807 problems, the 429 detail.
const (
	predID    = "gm3qorzdhgbfurvjtvhg6dckhu"
	predHead  = `"id":"` + predID + `","model":"google/veo-3.1-fast","version":"hidden","input":{"prompt":"a fox","duration":6,"aspect_ratio":"16:9","resolution":"720p","generate_audio":false},"logs":"","data_removed":false,"created_at":"2026-11-25T12:00:00.000000Z","urls":{"cancel":"https://api.replicate.com/v1/predictions/` + predID + `/cancel","get":"https://api.replicate.com/v1/predictions/` + predID + `","web":"https://replicate.com/p/` + predID + `"}`
	docCreate = `{` + predHead + `,"output":null,"error":null,"status":"starting"}`
)

func pred(fields string) string { return `{` + predHead + `,` + fields + `}` }

type reply struct {
	code   int
	body   string
	header map[string]string
}

type cannedServer struct {
	srv *httptest.Server
	replies

	mu         sync.Mutex
	lastCreate *http.Request
}

type replies struct{ create, get, cancel reply }

func newCanned(t *testing.T, rs replies) *cannedServer {
	t.Helper()
	cs := &cannedServer{replies: rs}
	for _, r := range []*reply{&cs.create, &cs.get, &cs.cancel} {
		if r.code == 0 {
			r.code = http.StatusOK
		}
	}
	if cs.create.body == "" {
		cs.create = reply{code: http.StatusCreated, body: docCreate}
	}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep reply
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/cancel"):
			rep = cs.cancel
		case r.Method == http.MethodPost:
			cs.mu.Lock()
			cs.lastCreate = r.Clone(context.Background())
			cs.mu.Unlock()
			rep = cs.create
		case r.Method == http.MethodGet:
			rep = cs.get
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

func (cs *cannedServer) backend(t *testing.T, cfg replicate.Config) *replicate.Backend {
	t.Helper()
	cfg.Endpoint, cfg.APIKey, cfg.HTTPClient = cs.srv.URL, testKey, cs.srv.Client()
	be, err := replicate.New(cfg)
	require.NoError(t, err)
	return be
}

func TestSubmitCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		create     reply
		wantClass  error
		wantRetry  time.Duration
		wantInText string
	}{
		{name: "documented prediction", create: reply{code: 201, body: docCreate}},
		{name: "invalid input", create: reply{code: 422, body: `{"title":"Input validation failed","detail":"- input.duration: duration must be one of the following: 4, 6, 8","status":422,"invalid_fields":[{"type":"enum","field":"input.duration","description":"duration must be one of the following: 4, 6, 8"}]}`},
			wantClass: errclass.Permanent, wantInText: "input.duration"},
		{name: "throttled with Retry-After", create: reply{code: 429, body: `{"detail":"Request was throttled. Your rate limit resets in ~30s.","status":429}`, header: map[string]string{"Retry-After": "30"}},
			wantClass: errclass.Retryable, wantRetry: 30 * time.Second},
		{name: "throttled, hint only in the detail", create: reply{code: 429, body: `{"detail":"Request was throttled. Your rate limit resets in ~12s.","status":429}`},
			wantClass: errclass.Retryable, wantRetry: 12 * time.Second},
		{name: "refused token", create: reply{code: 401, body: `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}`},
			wantClass: errclass.Retryable, wantInText: "check REPLICATE_API_TOKEN"},
		{name: "out of credit", create: reply{code: 402, body: `{"title":"Insufficient credit","detail":"You have insufficient credit to run this model.","status":402}`},
			wantClass: errclass.Retryable},
		{name: "unknown model", create: reply{code: 404, body: `{"title":"Not found","detail":"The requested resource could not be found.","status":404}`},
			wantClass: errclass.NotFound},
		{name: "server error", create: reply{code: 500, body: `{"detail":"Internal server error"}`}, wantClass: errclass.Retryable},
		{name: "truncated 201", create: reply{code: 201, body: `{"id":"gm3qorz`}, wantClass: errclass.Retryable, wantInText: "may exist"},
		{name: "201 without id", create: reply{code: 201, body: `{"status":"starting"}`}, wantClass: errclass.Retryable, wantInText: "may exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{create: tt.create})
			h, err := cs.backend(t, replicate.Config{}).Submit(context.Background(), request("a fox"))
			if tt.wantClass == nil {
				require.NoError(t, err)
				require.Equal(t, backend.Handle(predID), h)
				return
			}
			require.Error(t, err)
			backendtest.RequireClassified(t, err, tt.wantClass, tt.wantRetry, testKey)
			require.Contains(t, err.Error(), tt.wantInText)
		})
	}
}

func TestSubmitRequestShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cancelAfter time.Duration
		want        string
	}{
		{0, "15m"}, {time.Hour, "1h"}, {90 * time.Second, "90s"}, {1500 * time.Millisecond, "2s"}, {-1, ""},
	}
	for _, tt := range tests {
		cs := newCanned(t, replies{})
		_, err := cs.backend(t, replicate.Config{CancelAfter: tt.cancelAfter}).Submit(context.Background(), request("a fox"))
		require.NoError(t, err)
		cs.mu.Lock()
		r := cs.lastCreate
		cs.mu.Unlock()
		require.Equal(t, "/v1/models/google/veo-3.1-fast/predictions", r.URL.Path)
		require.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
		require.Equal(t, tt.want, r.Header.Get("Cancel-After"))
		require.Empty(t, r.Header.Get("Prefer"))
	}
}

func TestPollCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		get         reply
		wantState   backend.State
		wantErr     error
		wantPollErr error
		wantRetry   time.Duration
		wantURL     string
		wantBilled  bool
		wantSeconds int
	}{
		{name: "starting", get: reply{body: docCreate}, wantState: backend.StatePending},
		{name: "processing", get: reply{body: pred(`"status":"processing","started_at":"2026-11-25T12:00:05.000000Z","output":null,"error":null`)}, wantState: backend.StateRunning},
		{name: "succeeded", get: reply{body: pred(`"status":"succeeded","started_at":"2026-11-25T12:00:05.000000Z","completed_at":"2026-11-25T12:01:05.000000Z","output":"https://replicate.delivery/xezq/abc/tmp.mp4","error":null,"metrics":{"predict_time":60.1,"total_time":65.2}`)},
			wantState: backend.StateSucceeded, wantURL: "https://replicate.delivery/xezq/abc/tmp.mp4", wantSeconds: 6},
		{name: "succeeded with a list output", get: reply{body: pred(`"status":"succeeded","output":["https://replicate.delivery/a.mp4"]`)},
			wantState: backend.StateSucceeded, wantURL: "https://replicate.delivery/a.mp4", wantSeconds: 6},
		{name: "succeeded without output", get: reply{body: pred(`"status":"succeeded","output":null`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable, wantBilled: true},
		{name: "failed, flagged as sensitive", get: reply{body: pred(`"status":"failed","output":null,"error":"The input or output was flagged as sensitive. Please try again with different inputs. (E005)"`)},
			wantState: backend.StateFailed, wantErr: errclass.ContentSafety},
		{name: "failed, unknown error", get: reply{body: pred(`"status":"failed","error":"Prediction failed due to an unexpected error (E1000)"`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "failed, timeout starting", get: reply{body: pred(`"status":"failed","error":"Timeout starting prediction (E6716)"`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "failed, invalid image", get: reply{body: pred(`"status":"failed","error":"Invalid image: the image must be 16:9 or 9:16"`)},
			wantState: backend.StateFailed, wantErr: errclass.Permanent},
		{name: "canceled while processing", get: reply{body: pred(`"status":"canceled","started_at":"2026-11-25T12:00:05.000000Z","output":null`)},
			wantState: backend.StateCanceled, wantBilled: true},
		{name: "canceled before start", get: reply{body: pred(`"status":"canceled","started_at":null,"output":null`)},
			wantState: backend.StateCanceled},
		{name: "aborted by Cancel-After", get: reply{body: pred(`"status":"aborted","started_at":null,"output":null`)},
			wantState: backend.StateFailed, wantErr: errclass.Retryable},
		{name: "truncated body", get: reply{body: `{"id":"gm3q`}, wantPollErr: errclass.Retryable},
		{name: "unknown status", get: reply{body: pred(`"status":"pondering"`)}, wantPollErr: errclass.Retryable},
		{name: "throttled", get: reply{code: 429, body: `{"detail":"Request was throttled. Your rate limit resets in ~5s.","status":429}`, header: map[string]string{"Retry-After": "5"}},
			wantPollErr: errclass.Retryable, wantRetry: 5 * time.Second},
		{name: "not found", get: reply{code: 404, body: `{"title":"Not found","detail":"The requested resource could not be found.","status":404}`}, wantPollErr: errclass.NotFound},
		{name: "html 503", get: reply{code: 503, body: `<html>unavailable</html>`}, wantPollErr: errclass.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{get: tt.get})
			be := cs.backend(t, replicate.Config{})
			st, err := be.Poll(context.Background(), predID)
			if tt.wantPollErr != nil {
				backendtest.RequireClassified(t, err, tt.wantPollErr, tt.wantRetry, testKey)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantState, st.State)
			require.Equal(t, tt.wantURL, st.VideoURL)
			require.Equal(t, tt.wantBilled, st.Billed)
			require.Equal(t, tt.wantSeconds, st.DurationSeconds)
			if tt.wantErr == nil {
				require.NoError(t, st.Err)
				return
			}
			require.Equal(t, tt.wantErr, errclass.Of(st.Err), st.Err)
			require.Contains(t, st.Err.Error(), predID)
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
		{"canceled", reply{body: pred(`"status":"canceled"`)}, nil},
		{"already succeeded", reply{body: pred(`"status":"succeeded","output":"https://replicate.delivery/a.mp4"`)}, nil},
		{"not found", reply{code: 404, body: `{"title":"Not found","status":404}`}, nil},
		{"server error", reply{code: 500, body: `{"detail":"Internal server error"}`}, errclass.Retryable},
		{"refused token", reply{code: 401, body: `{"title":"Unauthenticated","status":401}`}, errclass.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCanned(t, replies{cancel: tt.cancel})
			err := cs.backend(t, replicate.Config{}).Cancel(context.Background(), predID)
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
	be := cs.backend(t, replicate.Config{})
	for _, h := range []backend.Handle{"", " ", "../v1/account", "a?b", "a#b", backend.Handle(strings.Repeat("x", 200))} {
		_, err := be.Poll(context.Background(), h)
		require.ErrorIs(t, err, errclass.Permanent, h)
		require.ErrorIs(t, be.Cancel(context.Background(), h), errclass.Permanent, h)
	}
}
