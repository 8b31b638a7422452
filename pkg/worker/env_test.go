package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/internal/leak"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/worker"
)

func TestMain(m *testing.M) {
	shutdown := telemetry.Setup("worker-test") // real spans, so trace ids exist
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(leak.Check(code))
}

// For a 5 s standard 720p request: alpha $0.50 (at most 2 at once),
// beta $0.60, gamma $0.75.
const testCatalog = `{
  "version": "test",
  "backends": [
    {"name": "alpha", "provider": "luma", "endpoint": "http://alpha", "concurrency": 2, "offers": [
      {"model": "a1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": false, "audio": false,
       "prices": [{"per_second_usd": 0.10, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "beta", "provider": "runway", "endpoint": "http://beta", "offers": [
      {"model": "b1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": true, "audio": false,
       "prices": [{"per_second_usd": 0.12, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "gamma", "provider": "veo", "endpoint": "http://gamma", "offers": [
      {"model": "g1", "tier": "premium", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": true, "audio": false,
       "prices": [{"per_second_usd": 0.15, "source": "test", "as_of": "2026-01-01"}]}]}
  ]
}`

// flakyQueue fails the next Publish calls to failTopic with a retryable error.
type flakyQueue struct {
	*memqueue.Queue
	failTopic atomic.Value // string
	failures  atomic.Int32
}

func (f *flakyQueue) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	if ft, _ := f.failTopic.Load().(string); ft == topic && f.failures.Add(-1) >= 0 {
		return "", errclass.New(errclass.Retryable, "publish to %s: unavailable", topic)
	}
	return f.Queue.Publish(ctx, topic, m)
}

// clock is a settable clock shared by the services of a test.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

// flakyStore fails the next store calls with a retryable error, as
// Firestore does when it is briefly unavailable.
type flakyStore struct {
	*memstore.Store
	failTx      atomic.Int32 // the next RunTx calls fail
	failBackend atomic.Int32 // the next Tx.GetBackend reads fail
	gets        atomic.Int32 // GetJob calls (outside transactions)
	txGets      atomic.Int32 // Tx.GetJob calls (in transactions)
	panicOn     atomic.Value // string: reading this job (GetJob, Tx.GetJob) panics (a bug)
}

func (f *flakyStore) GetJob(ctx context.Context, id string) (*job.Job, error) {
	f.gets.Add(1)
	f.panicIfPoison(id)
	return f.Store.GetJob(ctx, id)
}

func (f *flakyStore) panicIfPoison(id string) {
	if p, _ := f.panicOn.Load().(string); p == id {
		panic("store bug reading job " + id)
	}
}

func (f *flakyStore) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if f.failTx.Add(-1) >= 0 {
		return errclass.New(errclass.Retryable, "memstore: unavailable (injected)")
	}
	return f.Store.RunTx(ctx, func(tx store.Tx) error { return fn(flakyTx{Tx: tx, f: f}) })
}

type flakyTx struct {
	store.Tx
	f *flakyStore
}

func (t flakyTx) GetJob(id string) (*job.Job, error) {
	t.f.txGets.Add(1)
	t.f.panicIfPoison(id)
	return t.Tx.GetJob(id)
}

func (t flakyTx) GetBackend(name string) (store.BackendState, error) {
	if t.f.failBackend.Add(-1) >= 0 {
		return store.BackendState{}, errclass.New(errclass.Retryable, "memstore: unavailable (injected)")
	}
	return t.Tx.GetBackend(name)
}

type env struct {
	q     *flakyQueue
	st    *flakyStore
	cat   *catalog.Catalog
	clock *clock
	fakes map[string]*fakeBackend
	// finding names the backends whose adapter implements backend.Finder.
	finding map[string]bool
	log     *slog.Logger
}

func setup(t testing.TB) *env {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	require.NoError(t, err)
	q := &flakyQueue{Queue: memqueue.New(memqueue.WithBackoff(time.Millisecond, 5*time.Millisecond))}
	require.NoError(t, queue.Provision(context.Background(), q, queue.Topology(cat.Names())))
	st := &flakyStore{Store: memstore.New()}
	t.Cleanup(func() { _ = q.Close(); _ = st.Close() })
	e := &env{q: q, st: st, cat: cat, clock: &clock{}, fakes: map[string]*fakeBackend{}, finding: map[string]bool{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, n := range cat.Names() {
		e.fakes[n] = newFake(n)
	}
	return e
}

func (e *env) newWorker(t testing.TB, mod ...func(*worker.Config)) *worker.Worker {
	t.Helper()
	bs := map[string]backend.Backend{}
	for n, f := range e.fakes {
		bs[n] = f
		if e.finding[n] {
			bs[n] = findingFake{f}
		}
	}
	cfg := worker.Config{Queue: e.q, Store: e.st, Backends: bs, Catalog: e.cat, Logger: e.log,
		Now: e.clock.Now, PollInterval: time.Millisecond, SubmitWait: time.Millisecond,
		Retry: retry.Policy{MaxAttempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}}
	for _, m := range mod {
		m(&cfg)
	}
	w, err := worker.New(cfg)
	require.NoError(t, err)
	return w
}

func (e *env) newRouter(t testing.TB) *router.Router {
	t.Helper()
	r, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: e.cat, Logger: e.log,
		Now: e.clock.Now, HealthCacheTTL: -1})
	require.NoError(t, err)
	return r
}

// run runs svc until the test ends, then checks it stopped cleanly.
func run(t testing.TB, svc interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// pipeline starts a router and a worker for every backend.
func (e *env) pipeline(t testing.TB, mod ...func(*worker.Config)) {
	t.Helper()
	run(t, e.newRouter(t))
	run(t, e.newWorker(t, mod...))
}

func request(t testing.TB, prompt string) job.Request {
	t.Helper()
	req := job.Request{Prompt: prompt, DurationSeconds: 5}
	req.ApplyDefaults()
	require.NoError(t, req.Validate())
	return req
}

// ingest does what the ingest service does: create the job with ctx's trace
// id, then publish it to aiprod-jobs with the trace context.
func (e *env) ingest(t *testing.T, ctx context.Context, req job.Request) *job.Job {
	t.Helper()
	j := job.New("", "dev", req, e.clock.Now())
	j.TraceID = telemetry.TraceID(ctx)
	j, _, err := storetest.CreateJob(ctx, e.st, j)
	require.NoError(t, err)
	e.publishJob(t, ctx, j)
	return j
}

// ingestLater creates a job of prompt without publishing it (publishJob).
func (e *env) ingestLater(t *testing.T, prompt string) *job.Job {
	t.Helper()
	j, _, err := storetest.CreateJob(ctx, e.st, job.New("", "dev", request(t, prompt), e.clock.Now()))
	require.NoError(t, err)
	return j
}

// publishJob publishes j to aiprod-jobs in ctx's trace, as ingest does.
func (e *env) publishJob(t testing.TB, ctx context.Context, j *job.Job) {
	t.Helper()
	_, err := e.q.Publish(ctx, queue.TopicJobs, queue.Message{
		Attributes: telemetry.Inject(ctx, dispatch.JobAttributes(j.ID, j.ProjectID, 0)),
	})
	require.NoError(t, err)
}

// dispatched writes a job as the router leaves it after dispatching attempt
// 1 to backend, and returns the dispatch message.
func (e *env) dispatched(t *testing.T, backendName string, req job.Request, edit ...func(*job.Job)) (*job.Job, dispatch.Message) {
	t.Helper()
	b := e.cat.Backend(backendName)
	q, why := b.Quote(&req)
	require.Empty(t, why)
	now := e.clock.Now()
	j := job.New("", "dev", req, now)
	for _, ed := range edit {
		ed(j)
	}
	j.Attempts = append(j.Attempts, job.Attempt{Number: len(j.Attempts) + 1, Backend: backendName, Model: q.Model,
		Status: job.AttemptDispatched, EstimatedCost: q.Estimate, StartedAt: now, DurationSeconds: q.Seconds})
	j.Backend, j.EstimatedCost, j.Status = backendName, q.Estimate, job.StatusDispatched
	j, _, err := storetest.CreateJob(context.Background(), e.st, j)
	require.NoError(t, err)
	a := j.CurrentAttempt()
	return j, dispatch.Message{JobID: j.ID, ProjectID: j.ProjectID, Attempt: a.Number, Backend: backendName,
		Model: a.Model, Seconds: a.DurationSeconds, Estimate: a.EstimatedCost}
}

// deliver hands a dispatch to a worker's handler synchronously and says what
// it did with it: "ack", "nack" or "none".
func deliver(ctx context.Context, t *testing.T, w *worker.Worker, msg dispatch.Message, deliveryAttempt int) string {
	t.Helper()
	data, err := msg.Encode()
	require.NoError(t, err)
	return deliverRaw(ctx, w, msg.Backend, queue.Message{ID: "d-" + msg.JobID, Data: data,
		Attributes: msg.Attributes(), DeliveryAttempt: deliveryAttempt})
}

func deliverRaw(ctx context.Context, w *worker.Worker, backendName string, m queue.Message) string {
	var mu sync.Mutex
	verdict := "none"
	set := func(v string) func() { return func() { mu.Lock(); verdict = v; mu.Unlock() } }
	w.Handler(backendName)(ctx, queue.NewReceived(m, set("ack"), set("nack")))
	mu.Lock()
	defer mu.Unlock()
	return verdict
}

func (e *env) job(t *testing.T, id string) *job.Job {
	t.Helper()
	j, err := e.st.GetJob(context.Background(), id)
	require.NoError(t, err)
	return j
}

// wait polls the job until cond holds (5 s deadline) and returns it.
func (e *env) wait(t testing.TB, id string, cond func(*job.Job) bool) *job.Job {
	t.Helper()
	var last *job.Job
	require.Eventually(t, func() bool {
		j, err := e.st.GetJob(context.Background(), id)
		if err != nil {
			return false
		}
		last = j
		return cond(j)
	}, 5*time.Second, time.Millisecond, "job %s never reached the expected state", id)
	return last
}

func terminal(j *job.Job) bool { return j.Status.Terminal() }

func (e *env) backendState(t *testing.T, name string) store.BackendState {
	t.Helper()
	list, err := e.st.ListBackends(context.Background())
	require.NoError(t, err)
	for _, b := range list {
		if b.Name == name {
			return b
		}
	}
	return store.BackendState{Name: name}
}

func (e *env) events(t *testing.T, id string) []store.Event {
	t.Helper()
	evs, err := e.st.ListEvents(context.Background(), id)
	require.NoError(t, err)
	return evs
}

func eventTypes(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Stage + "/" + ev.Type
	}
	return out
}

// lifecycles returns the lifecycle events published for job id.
func (e *env) lifecycles(t *testing.T, id string) []dispatch.Lifecycle {
	t.Helper()
	var out []dispatch.Lifecycle
	for _, m := range e.q.Published(queue.TopicEvents) {
		if m.Attr(queue.AttrEventType) != "" {
			continue // a system event, not a job's
		}
		ev, err := dispatch.DecodeLifecycle(m.Data)
		require.NoError(t, err)
		if ev.JobID == id {
			out = append(out, ev)
		}
	}
	return out
}

// circuitEvents returns the circuit changes published to aiprod-events.
func (e *env) circuitEvents(t *testing.T) []circuit.Event {
	t.Helper()
	var out []circuit.Event
	for _, m := range e.q.Published(queue.TopicEvents) {
		if m.Attr(queue.AttrEventType) == circuit.EventTypeCircuit {
			var ev circuit.Event
			require.NoError(t, json.Unmarshal(m.Data, &ev))
			out = append(out, ev)
		}
	}
	return out
}

// reroutes returns the reroute requests published for job id.
func (e *env) reroutes(id string) []queue.Message {
	var out []queue.Message
	for _, m := range e.q.Published(queue.TopicJobs) {
		if m.Attributes[queue.AttrJobID] == id && m.Attributes[queue.AttrAttempt] != "" {
			out = append(out, m)
		}
	}
	return out
}

func traceIDOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}
