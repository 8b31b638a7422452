package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/internal/leak"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Credentials of every test server.
const (
	keyA     = "key-alpha-0123456789"
	projectA = "alpha"
	keyB     = "key-beta-0123456789"
	projectB = "beta"
	adminKey = "admin-secret-0123456789"
)

// validBody is a minimal valid job request.
const validBody = `{"prompt":"a red fox running through snow","duration_seconds":5}`

func TestMain(m *testing.M) {
	// A real SDK tracer provider, so that spans have trace ids.
	shutdown := telemetry.Setup("api-test")
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(leak.Check(code))
}

// clock is a test clock that moves one second forward at every reading, so
// that jobs created one after the other have distinct creation times,
// unless frozen: then it moves only when advanced.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	frozen bool
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.now = c.now.Add(time.Second)
	}
	return c.now
}

// freeze stops the clock: readings return the same time until advance.
func (c *clock) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = true
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (the log).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// switchPublisher is a queue.Publisher that fails while failing is set and
// otherwise forwards to a memqueue.
type switchPublisher struct {
	queue.Publisher
	mu      sync.Mutex
	failing bool
}

func (p *switchPublisher) setFailing(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = v
}

func (p *switchPublisher) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	p.mu.Lock()
	failing := p.failing
	p.mu.Unlock()
	if failing {
		return "", errclass.New(errclass.Retryable, "pubsub: unavailable")
	}
	return p.Publisher.Publish(ctx, topic, m)
}

// env is one test server with its store, queue, clock and log.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	st    *memstore.Store
	q     *memqueue.Queue
	pub   *switchPublisher
	clock *clock
	logs  *syncBuffer
	cfg   api.Config
}

// setup starts a test server over a fresh memstore and memqueue, with
// projects alpha (keyA) and beta (keyB) and the admin key. opts may change
// the Config before New.
func setup(t *testing.T, opts ...func(*api.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st := memstore.New()
	q := memqueue.New()
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicJobs))
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicEvents))
	e := &env{
		t: t, st: st, q: q, pub: &switchPublisher{Publisher: q},
		clock: &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
		logs:  &syncBuffer{},
	}
	require.NoError(t, api.SeedAPIKey(ctx, st, keyA, projectA, e.clock.Now()))
	require.NoError(t, api.SeedAPIKey(ctx, st, keyB, projectB, e.clock.Now()))
	e.cfg = api.Config{
		Store:    st,
		Queue:    e.pub,
		Catalog:  catalog.Default(),
		AdminKey: adminKey,
		Logger:   telemetry.Logger(e.logs, "", slog.LevelDebug),
		Now:      e.clock.Now,
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	s, err := api.New(e.cfg)
	require.NoError(t, err)
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		// Secrets never reach the log.
		logs := e.logs.String()
		for _, secret := range []string{keyA, keyB, adminKey} {
			if strings.Contains(logs, secret) {
				t.Errorf("log holds the secret %q", secret)
			}
		}
	})
	return e
}

// resp is an answer of the test server.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with an optional bearer key and header pairs.
func (e *env) do(method, path, key, body string, headers ...string) resp {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// submit posts a valid job for the key's project and returns it.
func (e *env) submit(key string, headers ...string) *job.Job {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/jobs", key, validBody, headers...)
	require.Equal(e.t, http.StatusAccepted, r.status, string(r.body))
	return decode[job.Job](e.t, r)
}

// decode parses a JSON answer after checking its Content-Type.
func decode[T any](t *testing.T, r resp) *T {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), string(r.body))
	return &v
}

// requireError checks an error answer: status, code and field.
func requireError(t *testing.T, r resp, status int, code, field string) api.ErrorDetail {
	t.Helper()
	require.Equal(t, status, r.status, string(r.body))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var raw map[string]map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw), string(r.body))
	require.Contains(t, raw, "error")
	body := decode[api.ErrorBody](t, r)
	require.Equal(t, code, body.Error.Code, string(r.body))
	require.Equal(t, field, body.Error.Field, string(r.body))
	require.NotEmpty(t, body.Error.Message)
	return body.Error
}

// jobsOf returns every stored job of a project.
func (e *env) jobsOf(project string) []*job.Job {
	e.t.Helper()
	page, err := e.st.ListJobs(context.Background(), store.ListJobsQuery{ProjectID: project, Limit: store.MaxPageSize})
	require.NoError(e.t, err)
	return page.Jobs
}
