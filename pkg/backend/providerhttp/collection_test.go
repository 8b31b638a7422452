package providerhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

type thing struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func (t thing) status(op string) (backend.Status, error) {
	if t.State == "done" {
		return backend.Status{State: backend.StateSucceeded, VideoURL: "https://v/" + t.ID}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "%s: state %q", op, t.State)
}

// routes serves canned answers by "METHOD path" and records the calls.
type routes struct {
	mu    sync.Mutex
	calls []string
	reply map[string]func(w http.ResponseWriter)
}

func newThings(t *testing.T, reply map[string]func(w http.ResponseWriter)) (providerhttp.Collection[thing], *routes) {
	t.Helper()
	rt := &routes{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := r.Method + " " + r.URL.Path
		rt.mu.Lock()
		rt.calls = append(rt.calls, call)
		rt.mu.Unlock()
		if f, ok := rt.reply[call]; ok {
			f(w)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	api := providerhttp.API{Provider: "acme", Scheme: "Bearer", KeyEnv: "ACME_KEY"}.Client(srv.Client(), secret)
	return providerhttp.Collection[thing]{
		API: api, URL: srv.URL + "/v1/things", Noun: "thing", Status: thing.status,
		Stop: providerhttp.Stop{Method: http.MethodPost, Suffix: "/cancel", Verb: "cancel"},
	}, rt
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestCollectionCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     func(w http.ResponseWriter)
		want      backend.Handle
		wantClass error
		wantText  string
	}{
		{name: "id", reply: answer(http.StatusCreated, `{"id":"t-1","state":"new"}`), want: "t-1"},
		{name: "no id", reply: answer(http.StatusOK, `{}`), wantClass: errclass.Retryable,
			wantText: "acme: create thing: HTTP 200 without a usable thing id (the thing may exist)"},
		{name: "an id that is no path segment", reply: answer(http.StatusOK, `{"id":"../x"}`), wantClass: errclass.Retryable, wantText: "usable thing id"},
		{name: "unreadable", reply: answer(http.StatusOK, `{"id":`), wantClass: errclass.Retryable, wantText: "unreadable body (the thing may exist)"},
		{name: "refused", reply: answer(http.StatusUnprocessableEntity, `bad`), wantClass: errclass.Permanent, wantText: "HTTP 422: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			things, _ := newThings(t, map[string]func(http.ResponseWriter){"POST /v1/create": tt.reply})
			h, err := things.Create(context.Background(), providerhttp.Request{
				Method: http.MethodPost, URL: strings.TrimSuffix(things.URL, "/things") + "/create", Op: "create thing", Body: map[string]int{"n": 1},
			})
			if tt.wantClass != nil {
				require.Equal(t, tt.wantClass, errclass.Of(err), "%v", err)
				require.ErrorContains(t, err, tt.wantText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, h)
		})
	}
}

func TestCollectionPoll(t *testing.T) {
	t.Parallel()
	things, rt := newThings(t, map[string]func(http.ResponseWriter){
		"GET /v1/things/t-1": answer(http.StatusOK, `{"id":"t-1","state":"done"}`),
		"GET /v1/things/t-2": answer(http.StatusOK, `{"id":"t-2","state":"odd"}`),
		"GET /v1/things/t-3": answer(http.StatusAccepted, `{"id":"t-3","state":"done"}`),
	})
	st, err := things.Poll(context.Background(), "t-1")
	require.NoError(t, err)
	require.Equal(t, backend.StateSucceeded, st.State)
	require.Equal(t, "https://v/t-1", st.VideoURL)

	_, err = things.Poll(context.Background(), "t-2")
	require.ErrorContains(t, err, `get thing t-2: state "odd"`, "Status reads the item with the op")

	_, err = things.Poll(context.Background(), "t-3")
	require.Equal(t, errclass.Retryable, errclass.Of(err), "only a 200 is an answer")

	_, err = things.Poll(context.Background(), "gone")
	require.Equal(t, errclass.NotFound, errclass.Of(err))
	require.ErrorContains(t, err, "acme: get thing gone: HTTP 404")
	require.NotContains(t, err.Error(), "never created")
	things.Unknown = "deleted or never created"
	_, err = things.Poll(context.Background(), "gone")
	require.Equal(t, errclass.NotFound, errclass.Of(err))
	require.ErrorContains(t, err, "HTTP 404: (empty body) (deleted or never created)")
	_, err = things.Poll(context.Background(), "t-3")
	require.NotContains(t, err.Error(), "deleted or never created", "only a 404 means unknown")

	_, err = things.Poll(context.Background(), "a/../b")
	require.Equal(t, errclass.Permanent, errclass.Of(err))
	require.ErrorContains(t, err, "acme: invalid handle")
	require.ErrorContains(t, err, "want a thing id")
	require.NotContains(t, rt.calls, "GET /v1/things/a/../b", "a malformed handle is never sent")
}

func TestCollectionCancel(t *testing.T) {
	t.Parallel()
	things, rt := newThings(t, map[string]func(http.ResponseWriter){
		"POST /v1/things/t-1/cancel": answer(http.StatusOK, `{}`),
		"POST /v1/things/t-2/cancel": answer(http.StatusConflict, `{"detail":"finished"}`),
	})
	require.NoError(t, things.Cancel(context.Background(), "t-1"))
	require.NoError(t, things.Cancel(context.Background(), "unknown"), "a generation already gone is no error")
	err := things.Cancel(context.Background(), "t-2")
	require.Equal(t, errclass.Conflict, errclass.Of(err))
	require.ErrorContains(t, err, "acme: cancel thing t-2: HTTP 409")
	require.Equal(t, errclass.Permanent, errclass.Of(things.Cancel(context.Background(), "")))
	require.Equal(t, []string{"POST /v1/things/t-1/cancel", "POST /v1/things/unknown/cancel", "POST /v1/things/t-2/cancel"}, rt.calls)
}

func TestClientCancel(t *testing.T) {
	t.Parallel()
	s := newServer(t, http.StatusBadRequest, nil, `{"status":"ALREADY_COMPLETED"}`)
	req := providerhttp.Request{Method: http.MethodPut, URL: s.URL, Op: "cancel 1"}
	err := client(s).Cancel(context.Background(), req, nil)
	require.Equal(t, errclass.Permanent, errclass.Of(err))
	require.ErrorContains(t, err, "acme: cancel 1: HTTP 400")
	done := func(r *providerhttp.Response) bool { return r.Status == http.StatusBadRequest }
	require.NoError(t, client(s).Cancel(context.Background(), req, done))
}

func TestAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t, http.StatusUnauthorized, nil, `{"error":"who?"}`)
	a := providerhttp.API{
		Provider: "acme", Scheme: "Key", KeyEnv: "ACME_KEY", Header: http.Header{"X-Api-Version": {"7"}}, MaxBody: 64,
		Problem: func(*providerhttp.Response) providerhttp.Problem { return providerhttp.Problem{Message: "who?"} },
	}
	c := a.Client(s.Client(), secret)
	_, err := c.Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"}, nil, "")
	require.EqualError(t, err, "acme: get: HTTP 401 (the API key was refused; check ACME_KEY): who?")
	last, _ := s.request()
	require.Equal(t, "Key "+secret, last.Header.Get("Authorization"))
	require.Equal(t, "7", last.Header.Get("X-Api-Version"))
	require.Equal(t, 64, c.MaxBody)

	require.NoError(t, a.Validate("https://api.acme.test", 0, "k"))
	require.EqualError(t, a.Validate("https://api.acme.test", 0, " "), "acme: Config.APIKey is required (set ACME_KEY)")
}
