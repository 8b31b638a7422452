package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// stubDeadLetters serves the dead-letter routes without a queue: every id
// asked for is not found. The fuzz targets exercise the routes' decoding,
// not package deadletter.
type stubDeadLetters struct{}

func (stubDeadLetters) Subscriptions() []string {
	return deadletter.Subscriptions(catalog.Default().Names())
}

func (stubDeadLetters) List(context.Context, string, int) ([]deadletter.Letter, error) {
	return nil, nil
}

func (stubDeadLetters) Replay(_ context.Context, _ string, ids []string, _ int) (deadletter.ReplayResult, error) {
	return deadletter.ReplayResult{NotFound: ids}, nil
}

// fuzzServer is an API handler over a fresh memstore and memqueue, with
// keyA for projectA and the admin key: each fuzz input gets its own, so
// inputs never see each other's writes.
func fuzzServer(t testing.TB, cat *catalog.Catalog) http.Handler {
	t.Helper()
	ctx := context.Background()
	st, q := memstore.New(), memqueue.New()
	t.Cleanup(func() { _ = q.Close(); _ = st.Close() })
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicJobs))
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicEvents))
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	require.NoError(t, api.SeedAPIKey(ctx, st, keyA, projectA, now))
	s, err := api.New(api.Config{Store: st, Queue: q, Catalog: cat, AdminKey: adminKey, DeadLetters: stubDeadLetters{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	require.NoError(t, err)
	return s.Handler()
}

// serve sends one request straight to h and returns the recorded answer.
func serve(h http.Handler, method, target, key string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://api.test/", bytes.NewReader(body))
	r.URL = &url.URL{Path: target}
	if p, q, ok := strings.Cut(target, "?"); ok {
		r.URL = &url.URL{Path: p, RawQuery: q}
	}
	r.RequestURI = r.URL.RequestURI()
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// requireJSONAnswer is the contract of every answer to bad input (DESIGN
// invariant 6): never a 5xx, always a JSON body; an error is
// {"error":{"code","message"}} and, when the request body was a JSON
// object, a 400 names the field at fault.
func requireJSONAnswer(t *testing.T, w *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	require.Less(t, w.Code, 500, "%s", w.Body)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"), "%s", w.Body)
	require.True(t, json.Valid(w.Body.Bytes()), "%s", w.Body)
	if w.Code < 400 {
		return
	}
	var e api.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "%s", w.Body)
	require.NotEmpty(t, e.Error.Code, "%s", w.Body)
	require.NotEmpty(t, e.Error.Message, "%s", w.Body)
	var obj map[string]json.RawMessage
	if w.Code == http.StatusBadRequest && json.Unmarshal(body, &obj) == nil && obj != nil {
		_, emptyName := obj[""] // a field named "" is named by nothing
		require.True(t, e.Error.Field != "" || emptyName, "a 400 to a JSON object names no field: %s", w.Body)
	}
}

// adminRoutes are the admin routes that take a JSON body, by the route
// byte of FuzzAdminBodies.
var adminRoutes = []struct{ method, path string }{
	{http.MethodPut, "/v1/admin/projects/" + projectA + "/budget"},
	{http.MethodPost, "/v1/admin/projects/" + projectA + "/keys"},
	{http.MethodPatch, "/v1/admin/backends/runway"},
	{http.MethodPost, "/v1/admin/dlq/replay"},
}

// FuzzAdminBodies sends any body to the admin routes that read one (budget
// PUT, key creation, backend PATCH, dead-letter replay; FuzzDecodeRequest
// covers the job request): never a 5xx, always JSON, 400s name the field.
func FuzzAdminBodies(f *testing.F) {
	for _, s := range []struct {
		route byte
		body  string
	}{
		{0, `{"monthly_limit_usd": 50}`},
		{0, `{"monthly_limit_usd": null, "users": {"alice": 10, "bob": null}, "default_user_limit_usd": 5}`},
		{0, `{"monthly_limit_usd": "50"}`},
		{0, `{"monthly_limit_usd": -1}`},
		{0, `{"monthly_limit_usd": 1e-7}`},
		{0, `{"monthly_limit_usd": 1e30}`},
		{0, `{"users": {"": 1}, "monthly_limit_usd": 1}`},
		{0, `{"monthly_limit_usd": 1} {}`},
		{1, ``},
		{1, `{}`},
		{1, `{"expires_in_days": 90}`},
		{1, `{"expires_at": "2027-01-31T00:00:00Z"}`},
		{1, `{"expires_in_days": 0}`},
		{1, `{"expires_in_days": 1, "expires_at": "2027-01-31T00:00:00Z"}`},
		{1, `{"expires_at": "2026-11-25T12:00:00+99:00"}`},
		{2, `{"enabled": false}`},
		{2, `{"enabled": "no"}`},
		{2, `{}`},
		{3, `{"subscription": "aiprod-jobs-dlq"}`},
		{3, `{"subscription": "aiprod-jobs-dlq", "ids": ["1", ""], "max": 5}`},
		{3, `{"subscription": "aiprod-router", "max": -1}`},
		{3, `[1, 2]`},
		{3, `null`},
		{8, `{"":0}`}, // a field named "": its 400 names no field
	} {
		f.Add(s.route, []byte(s.body))
	}
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		rt := adminRoutes[int(route)%len(adminRoutes)]
		w := serve(fuzzServer(t, cat), rt.method, rt.path, adminKey, body)
		requireJSONAnswer(t, w, body)
	})
}

// FuzzJobListQuery sends any query string to GET /v1/jobs and GET
// /v1/admin/jobs, page tokens included: never a 5xx, always JSON, and a 400
// names the parameter.
func FuzzJobListQuery(f *testing.F) {
	token := listToken(f)
	for _, q := range []string{
		"", "status=failed&backend=fal&since=2026-11-25T00:00:00Z", "limit=1", "limit=0", "limit=501", "limit=1&limit=2",
		"page_token=" + token, "page_token=!!", "page_token=Z2FyYmFnZQ", "page_token=djE6OTIyMzM3MjAzNjg1NDc3NTgwNzp4",
		"since=2026-11-25&until=2026-11-24", "until=9999-12-31T23:59:59Z", "user_id=%ff", "error_code=Bad", "project=alpha",
		"statu=failed", "status=%00", "since=1h",
		"=0", // a parameter named "": its 400 names no parameter
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, query string, admin bool) {
		path, key := "/v1/jobs", keyA
		if admin {
			path, key = "/v1/admin/jobs", adminKey
		}
		w := serve(fuzzServer(t, cat), http.MethodGet, path+"?"+query, key, nil)
		requireJSONAnswer(t, w, nil)
		if w.Code == http.StatusBadRequest {
			var e api.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
			qv, _ := url.ParseQuery(query)
			_, emptyName := qv[""] // a parameter named "" is named by nothing
			require.True(t, e.Error.Field != "" || emptyName, "a 400 names no parameter: %s", w.Body)
		}
	})
}

// listToken returns a real next_page_token of GET /v1/jobs, for a seed.
func listToken(f *testing.F) string {
	h := fuzzServer(f, catalog.Default())
	for range 2 {
		w := serve(h, http.MethodPost, "/v1/jobs", keyA, []byte(validBody))
		require.Equal(f, http.StatusAccepted, w.Code, "%s", w.Body)
	}
	w := serve(h, http.MethodGet, "/v1/jobs?limit=1", keyA, nil)
	var list api.JobList
	require.NoError(f, json.Unmarshal(w.Body.Bytes(), &list), "%s", w.Body)
	require.NotEmpty(f, list.NextPageToken, "%s", w.Body)
	return list.NextPageToken
}
