package router_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/internal/leak"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

func TestMain(m *testing.M) {
	shutdown := telemetry.Setup("router-test") // real spans, so trace ids exist
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(leak.Check(code))
}

// For a 5 s standard 720p request: alpha $0.50, beta $0.60, gamma $0.75.
const testCatalog = `{
  "version": "test",
  "backends": [
    {"name": "alpha", "provider": "luma", "endpoint": "http://alpha", "offers": [
      {"model": "a1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": false, "audio": false,
       "prices": [{"per_second_usd": 0.10, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "beta", "provider": "runway", "endpoint": "http://beta", "offers": [
      {"model": "b1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": true, "audio": false,
       "prices": [{"per_second_usd": 0.12, "source": "test", "as_of": "2026-01-01"}]}]},
    {"name": "gamma", "provider": "veo", "endpoint": "http://gamma", "offers": [
      {"model": "g1", "tier": "premium", "resolutions": ["720p", "1080p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
       "text_to_video": true, "image_to_video": true, "audio": false,
       "prices": [{"per_second_usd": 0.15, "source": "test", "as_of": "2026-01-01"}]}]}
  ]
}`

// flakyQueue fails the next Publish calls to failTopic with a retryable error.
type flakyQueue struct {
	*memqueue.Queue
	failTopic string
	failures  atomic.Int32
}

func (f *flakyQueue) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	if topic == f.failTopic && f.failures.Add(-1) >= 0 {
		return "", errclass.New(errclass.Retryable, "publish to %s: unavailable", topic)
	}
	return f.Queue.Publish(ctx, topic, m)
}

// flakyStore answers errclass.Retryable while down, and counts the job
// reads, in transactions or not.
type flakyStore struct {
	*memstore.Store
	down     atomic.Bool
	jobReads atomic.Int32
}

func (f *flakyStore) GetJob(ctx context.Context, id string) (*job.Job, error) {
	f.jobReads.Add(1)
	if f.down.Load() {
		return nil, errclass.New(errclass.Retryable, "store unavailable")
	}
	return f.Store.GetJob(ctx, id)
}

func (f *flakyStore) RunTx(ctx context.Context, fn func(store.Tx) error) error {
	if f.down.Load() {
		return errclass.New(errclass.Retryable, "store unavailable")
	}
	return f.Store.RunTx(ctx, func(tx store.Tx) error { return fn(countingTx{Tx: tx, f: f}) })
}

type countingTx struct {
	store.Tx
	f *flakyStore
}

func (t countingTx) GetJob(id string) (*job.Job, error) {
	t.f.jobReads.Add(1)
	return t.Tx.GetJob(id)
}

type env struct {
	q   *flakyQueue
	st  *flakyStore
	cat *catalog.Catalog
	r   *router.Router
}

func setup(t *testing.T, mod ...func(*router.Config)) *env {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	require.NoError(t, err)
	q := &flakyQueue{Queue: memqueue.New(memqueue.WithBackoff(time.Millisecond, 5*time.Millisecond))}
	require.NoError(t, queue.Provision(context.Background(), q, queue.Topology(cat.Names())))
	st := &flakyStore{Store: memstore.New()}
	t.Cleanup(func() { _ = q.Close(); _ = st.Close() })
	cfg := router.Config{
		Queue: q, Store: st, Catalog: cat, HealthCacheTTL: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := router.New(cfg)
	require.NoError(t, err)
	return &env{q: q, st: st, cat: cat, r: r}
}

func request(t *testing.T, edit ...func(*job.Request)) job.Request {
	t.Helper()
	req := job.Request{Prompt: "a red fox running through snow", DurationSeconds: 5}
	for _, e := range edit {
		e(&req)
	}
	req.ApplyDefaults()
	require.NoError(t, req.Validate())
	return req
}

// ingest creates a queued job as the ingest service does and returns it
// with the message ingest would publish.
func (e *env) ingest(t *testing.T, req job.Request, edit ...func(*job.Job)) (*job.Job, queue.Message) {
	t.Helper()
	j := job.New("", "dev", req, time.Now())
	for _, ed := range edit {
		ed(j)
	}
	j, created, err := storetest.CreateJob(context.Background(), e.st, j)
	require.NoError(t, err)
	require.True(t, created)
	return j, queue.Message{ID: "ingest-" + j.ID, Attributes: dispatch.JobAttributes(j.ID, j.ProjectID, 0), DeliveryAttempt: 1}
}

// deliver hands m to the router synchronously and says what it did with
// it: "ack", "nack" or "none".
func (e *env) deliver(t *testing.T, m queue.Message) string {
	t.Helper()
	return deliverTo(e.r, m)
}

func (e *env) job(t *testing.T, id string) *job.Job {
	t.Helper()
	j, err := e.st.GetJob(context.Background(), id)
	require.NoError(t, err)
	return j
}

func (e *env) dispatches(backend string) []dispatch.Message {
	var out []dispatch.Message
	for _, m := range e.q.Published(queue.DispatchTopic(backend)) {
		d, err := dispatch.Decode(m.Data)
		if err != nil {
			panic(err)
		}
		out = append(out, d)
	}
	return out
}

func (e *env) setBackend(t *testing.T, name string, fn func(b *store.BackendState)) {
	t.Helper()
	_, err := store.UpdateBackend(context.Background(), e.st, name, time.Now(), func(b *store.BackendState) error {
		fn(b)
		return nil
	})
	require.NoError(t, err)
}

func TestDispatchCheapest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Equal(t, "alpha", got.Backend)
	require.Equal(t, money.MustParse("0.5"), got.EstimatedCost)
	require.Len(t, got.Attempts, 1)
	a := got.Attempts[0]
	require.Equal(t, 1, a.Number)
	require.Equal(t, "alpha", a.Backend)
	require.Equal(t, "a1", a.Model)
	require.Equal(t, job.AttemptDispatched, a.Status)
	require.Equal(t, 5, a.DurationSeconds)
	require.Equal(t, money.MustParse("0.5"), a.EstimatedCost)
	require.False(t, a.StartedAt.IsZero())

	d := e.q.Published(queue.DispatchTopic("alpha"))
	require.Len(t, d, 1)
	require.Equal(t, map[string]string{"job_id": j.ID, "project_id": "dev", "attempt": "1", "backend": "alpha"},
		withoutTrace(d[0].Attributes))
	msg, err := dispatch.Decode(d[0].Data)
	require.NoError(t, err)
	require.Equal(t, dispatch.Message{JobID: j.ID, ProjectID: "dev", Attempt: 1, Backend: "alpha", Model: "a1",
		Seconds: 5, Estimate: money.MustParse("0.5")}, msg)

	events, err := e.st.ListEvents(context.Background(), j.ID)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "router", events[0].Stage)
	require.Equal(t, "dispatched", events[0].Type)
	require.Equal(t, 1, events[0].Attempt)
}

func withoutTrace(attrs map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range attrs {
		if k != queue.AttrTraceParent && k != queue.AttrTraceState {
			out[k] = v
		}
	}
	return out
}

func TestRedeliveryRules(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Len(t, e.dispatches("alpha"), 1)

	// Dispatched, no attempt attribute: the dispatch is published again.
	m.DeliveryAttempt = 2
	require.Equal(t, "ack", e.deliver(t, m))
	require.Len(t, e.dispatches("alpha"), 2)
	require.Equal(t, 1, e.dispatches("alpha")[1].Attempt)
	require.Len(t, e.job(t, j.ID).Attempts, 1, "a redelivery never adds an attempt")

	// Dispatched, matching attempt: published again; other attempt: stale.
	withAttempt := func(n string) queue.Message {
		c := m
		c.Attributes = map[string]string{"job_id": j.ID, "project_id": "dev", "attempt": n}
		return c
	}
	require.Equal(t, "ack", e.deliver(t, withAttempt("1")))
	require.Len(t, e.dispatches("alpha"), 3)
	require.Equal(t, "ack", e.deliver(t, withAttempt("2")))
	require.Len(t, e.dispatches("alpha"), 3)

	// Running: the worker owns it.
	_, err := storetest.UpdateJob(context.Background(), e.st, j.ID, func(j *job.Job) error {
		return j.Transition(job.StatusRunning, time.Now())
	})
	require.NoError(t, err)
	require.Equal(t, "ack", e.deliver(t, m))
	require.Len(t, e.dispatches("alpha"), 3)
	require.Empty(t, e.q.Published(queue.TopicEvents))

	// Terminal: any delivery (a first one may be a duplicate, the last copy
	// of the message whose handler died before publishing) publishes the
	// lifecycle event again, and changes nothing else.
	_, err = storetest.UpdateJob(context.Background(), e.st, j.ID, func(j *job.Job) error {
		return j.Transition(job.StatusSucceeded, time.Now())
	})
	require.NoError(t, err)
	m.DeliveryAttempt = 1
	require.Equal(t, "ack", e.deliver(t, m))
	require.Len(t, e.q.Published(queue.TopicEvents), 1)
	m.DeliveryAttempt = 3
	require.Equal(t, "ack", e.deliver(t, m))
	ev := e.q.Published(queue.TopicEvents)
	require.Len(t, ev, 2)
	require.Contains(t, string(ev[1].Data), `"status":"succeeded"`)
	require.Len(t, e.dispatches("alpha"), 3)
}

// TestEveryDeliveryReadsTheJobOnce: a delivery reads its job once, in the
// routing transaction, whatever the job's state (before, a read ahead of
// that transaction made it two for a queued job); the rules then apply to
// what that read found (TestRedeliveryRules).
func TestEveryDeliveryReadsTheJobOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, m := e.ingest(t, request(t))
	for i, state := range []job.Status{job.StatusQueued, job.StatusDispatched, job.StatusRunning, job.StatusSucceeded} {
		if state == job.StatusRunning || state == job.StatusSucceeded {
			_, err := storetest.UpdateJob(context.Background(), e.st, j.ID, func(j *job.Job) error {
				return j.Transition(state, time.Now())
			})
			require.NoError(t, err)
		}
		e.st.jobReads.Store(0)
		require.Equal(t, "ack", e.deliver(t, m), state)
		require.EqualValues(t, 1, e.st.jobReads.Load(), "delivery %d, job %s", i+1, state)
	}
	require.Len(t, e.dispatches("alpha"), 2, "routed, then published again")
	require.Len(t, e.q.Published(queue.TopicEvents), 1, "the lifecycle event of the ended job")

	other := m
	other.Attributes = map[string]string{"job_id": j.ID, "project_id": "elsewhere"}
	require.Equal(t, "ack", e.deliver(t, other))
	require.Len(t, e.q.Published(queue.DeadLetterTopic(queue.TopicJobs)), 1, "another project's job: dead-lettered")
}

func TestPublishFailureNacksThenRedeliveryRepublishes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.q.failTopic = queue.DispatchTopic("alpha")
	e.q.failures.Store(1)
	j, m := e.ingest(t, request(t))

	require.Equal(t, "nack", e.deliver(t, m))
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status, "the dispatch tx committed before the publish")
	require.Empty(t, e.dispatches("alpha"))

	m.DeliveryAttempt = 2
	require.Equal(t, "ack", e.deliver(t, m))
	d := e.dispatches("alpha")
	require.Len(t, d, 1)
	require.Equal(t, 1, d[0].Attempt)
	require.Len(t, e.job(t, j.ID).Attempts, 1)
}

func TestExcludedBackendsAndReroute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	now := time.Now()
	j, _ := e.ingest(t, request(t), func(j *job.Job) {
		end := now
		j.Attempts = []job.Attempt{{Number: 1, Backend: "alpha", Model: "a1", Status: job.AttemptFailed,
			Error: &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "503"}, StartedAt: now, EndedAt: &end}}
		j.ExcludedBackends = []string{"alpha"}
	})
	// A worker's reroute request: attributes only, attempt = next.
	m := queue.Message{ID: "reroute-1", Attributes: dispatch.JobAttributes(j.ID, "dev", 2)}
	require.Equal(t, "ack", e.deliver(t, m))

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Len(t, got.Attempts, 2)
	require.Equal(t, "beta", got.Attempts[1].Backend)
	require.Equal(t, 2, got.Attempts[1].Number)
	d := e.dispatches("beta")
	require.Len(t, d, 1)
	require.Equal(t, 2, d[0].Attempt)
	require.Empty(t, e.dispatches("alpha"))
}

func TestNoBackend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.setBackend(t, "beta", func(b *store.BackendState) { b.Disabled = true })
	max := money.MustParse("0.55")
	j, m := e.ingest(t, request(t, func(r *job.Request) {
		r.MaxCostUSD = &max
		r.Backends = []string{"alpha", "beta", "gamma"}
	}), func(j *job.Job) {
		j.ExcludedBackends = []string{"alpha"}
	})
	require.Equal(t, "ack", e.deliver(t, m))

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.NotNil(t, got.CompletedAt)
	require.Equal(t, job.CodeNoBackend, got.Error.Code)
	require.Equal(t, "no backend can serve this request: alpha: excluded after failure; beta: disabled; "+
		"gamma: estimate $0.750000 over max_cost_usd $0.550000", got.Error.Message)
	require.Empty(t, got.Attempts)

	ev := e.q.Published(queue.TopicEvents)
	require.Len(t, ev, 1)
	lc, err := dispatch.DecodeLifecycle(ev[0].Data)
	require.NoError(t, err)
	require.Equal(t, dispatch.LifecycleOf(got), lc)
	require.Equal(t, j.ID, ev[0].Attributes["job_id"])
}

func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *router.Config) { c.MaxAttempts = 2 })
	now := time.Now()
	j, m := e.ingest(t, request(t), func(j *job.Job) {
		for i, b := range []string{"alpha", "beta"} {
			j.Attempts = append(j.Attempts, job.Attempt{Number: i + 1, Backend: b, Status: job.AttemptFailed,
				Error: &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "timeout"}, StartedAt: now})
		}
	})
	require.Equal(t, "ack", e.deliver(t, m))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBackendFailed, got.Error.Code)
	require.Equal(t, "all 2 attempts failed: attempt 1 on alpha: backend_unavailable: timeout; "+
		"attempt 2 on beta: backend_unavailable: timeout", got.Error.Message)
	require.Len(t, e.q.Published(queue.TopicEvents), 1)
	require.Empty(t, e.dispatches("gamma"))
}

func TestCircuitOpenSkipsBackend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.setBackend(t, "alpha", func(b *store.BackendState) {
		b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, OpenedAt: time.Now()}
	})
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, "beta", e.job(t, j.ID).Backend)
}

func TestHalfOpenProbeAllowsExactlyOneJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.setBackend(t, "alpha", func(b *store.BackendState) {
		b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, OpenedAt: time.Now().Add(-time.Minute)}
	})
	j1, m1 := e.ingest(t, request(t))
	j2, m2 := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m1))
	require.Equal(t, "ack", e.deliver(t, m2))

	require.Equal(t, "alpha", e.job(t, j1.ID).Backend, "the first job is the probe")
	require.Equal(t, "beta", e.job(t, j2.ID).Backend, "only one probe at a time")
	states, err := e.st.ListBackends(context.Background())
	require.NoError(t, err)
	require.Len(t, states, 1)
	require.Equal(t, circuit.HalfOpen, states[0].Breaker.State)
	require.False(t, states[0].Breaker.ProbeStartedAt.IsZero())
}

// Two router instances: the second one's cached health still says "probe
// due" after the first took the probe; the transaction must catch it.
func TestProbeTakenByAnotherInstance(t *testing.T) {
	t.Parallel()
	e := setup(t)
	stale, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: e.cat, HealthCacheTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	e.setBackend(t, "alpha", func(b *store.BackendState) {
		b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, OpenedAt: time.Now().Add(-time.Minute)}
	})
	onlyBeta := func(r *job.Request) { r.Backends = []string{"beta"} }
	onlyAlpha := func(r *job.Request) { r.Backends = []string{"alpha"} }

	// Warm the stale instance's cache (open, cool-down over: probe due).
	warm, mw := e.ingest(t, request(t, onlyBeta))
	require.Equal(t, "ack", deliverTo(stale, mw))
	require.Equal(t, "beta", e.job(t, warm.ID).Backend)

	// The other instance takes the probe.
	j1, m1 := e.ingest(t, request(t, onlyAlpha))
	require.Equal(t, "ack", e.deliver(t, m1))
	require.Equal(t, "alpha", e.job(t, j1.ID).Backend)

	// The stale instance would take it too, but loses it in the transaction.
	j2, m2 := e.ingest(t, request(t))
	require.Equal(t, "ack", deliverTo(stale, m2))
	require.Equal(t, "beta", e.job(t, j2.ID).Backend)

	j3, m3 := e.ingest(t, request(t, onlyAlpha))
	require.Equal(t, "ack", deliverTo(stale, m3))
	got := e.job(t, j3.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, "no backend can serve this request: alpha: circuit half-open: probe in flight (taken by another job); "+
		"beta: not in allow-list; gamma: not in allow-list", got.Error.Message)
	require.Len(t, e.dispatches("alpha"), 1)
}

func deliverTo(r *router.Router, m queue.Message) string {
	var mu sync.Mutex
	verdict := "none"
	set := func(v string) func() {
		return func() { mu.Lock(); verdict = v; mu.Unlock() }
	}
	if m.DeliveryAttempt == 0 {
		m.DeliveryAttempt = 1
	}
	r.Handle(context.Background(), queue.NewReceived(m, set("ack"), set("nack")))
	mu.Lock()
	defer mu.Unlock()
	return verdict
}

func TestDirectRequestCreatesJobOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := queue.Message{ID: "pubsub-42", Data: []byte(`{"prompt":"a fox","duration_seconds":5}`),
		Attributes: map[string]string{"project_id": "acme"}}
	require.Equal(t, "ack", e.deliver(t, m))
	m.DeliveryAttempt = 2
	require.Equal(t, "ack", e.deliver(t, m))

	page, err := e.st.ListJobs(context.Background(), store.ListJobsQuery{ProjectID: "acme"})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
	j := page.Jobs[0]
	require.Equal(t, job.IDForKey("acme", "pubsub:pubsub-42"), j.ID)
	require.Equal(t, job.StatusDispatched, j.Status)
	require.Len(t, j.Attempts, 1)
	for _, d := range e.dispatches("alpha") {
		require.Equal(t, j.ID, d.JobID)
		require.Equal(t, 1, d.Attempt, "a redelivery republishes the same attempt")
	}
	events, err := e.st.ListEvents(context.Background(), j.ID)
	require.NoError(t, err)
	require.Equal(t, "created", events[0].Type)

	// With an idempotency key, two different messages name one job.
	keyed := func(id string) queue.Message {
		return queue.Message{ID: id, Data: []byte(`{"prompt":"a cat","duration_seconds":5}`),
			Attributes: map[string]string{"project_id": "acme", "idempotency_key": "k-1"}}
	}
	require.Equal(t, "ack", e.deliver(t, keyed("a")))
	require.Equal(t, "ack", e.deliver(t, keyed("b")))
	page, err = e.st.ListJobs(context.Background(), store.ListJobsQuery{ProjectID: "acme"})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 2)
	k := e.job(t, job.IDForKey("acme", "k-1"))
	require.Equal(t, "k-1", k.IdempotencyKey)
	require.Len(t, k.Attempts, 1)
}

func TestBadMessagesAreDeadLettered(t *testing.T) {
	t.Parallel()
	e := setup(t)
	other, _ := e.ingest(t, request(t))
	tests := []struct {
		name   string
		m      queue.Message
		reason string
	}{
		{"invalid JSON", queue.Message{Data: []byte(`{"prompt":`), Attributes: map[string]string{"project_id": "dev"}},
			"invalid job request: malformed JSON"},
		{"field error", queue.Message{Data: []byte(`{"prompt":"x","duration_seconds":99}`), Attributes: map[string]string{"project_id": "dev"}},
			"invalid job request: field duration_seconds: must be from 1 to 60, got 99"},
		{"unknown field", queue.Message{Data: []byte(`{"prompt":"x","duration_seconds":5,"colour":"red"}`), Attributes: map[string]string{"project_id": "dev"}},
			"invalid job request: field colour: unknown field"},
		{"no project", queue.Message{Data: []byte(`{"prompt":"x","duration_seconds":5}`), Attributes: map[string]string{"user": "u"}},
			"attribute project_id is required"},
		{"malformed project", queue.Message{Data: []byte(`{"prompt":"x","duration_seconds":5}`), Attributes: map[string]string{"project_id": "Acme Corp/../x"}},
			`attribute project_id "Acme Corp/../x" is not a project id`},
		{"malformed job id", queue.Message{Attributes: map[string]string{"job_id": "nope", "project_id": "dev"}},
			`attribute job_id "nope" is not a job id`},
		{"unknown job", queue.Message{Attributes: map[string]string{"job_id": job.IDForKey("dev", "none"), "project_id": "dev"}},
			"not found"},
		{"other project's job", queue.Message{Attributes: map[string]string{"job_id": other.ID, "project_id": "evil"}},
			`attribute project_id "evil" is not the project of job`},
		{"bad attempt", queue.Message{Attributes: map[string]string{"job_id": other.ID, "project_id": "dev", "attempt": "zero"}},
			"attribute attempt must be a positive integer"},
	}
	for i, tt := range tests {
		tt.m.ID = "bad-" + tt.name
		require.Equal(t, "ack", e.deliver(t, tt.m), tt.name)
		dlq := e.q.Published(queue.DeadLetterTopic(queue.TopicJobs))
		require.Len(t, dlq, i+1, tt.name)
		last := dlq[i]
		require.True(t, strings.HasPrefix(last.Attributes[queue.AttrReason], tt.reason) ||
			strings.Contains(last.Attributes[queue.AttrReason], tt.reason),
			"%s: reason %q, want %q", tt.name, last.Attributes[queue.AttrReason], tt.reason)
		require.Equal(t, queue.SubscriptionRouter, last.Attributes[queue.AttrSourceSub])
		require.Equal(t, string(tt.m.Data), string(last.Data))
	}
	require.Equal(t, job.StatusQueued, e.job(t, other.ID).Status, "a rejected message changes nothing")
	page, err := e.st.ListJobs(context.Background(), store.ListJobsQuery{ProjectID: "dev"})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
}

func TestRunDeadLettersAndKeepsGoing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	_, err := e.q.Publish(ctx, queue.TopicJobs, queue.Message{Data: []byte("\x00garbage"),
		Attributes: map[string]string{"project_id": "dev"}})
	require.NoError(t, err)
	_, err = e.q.Publish(ctx, queue.TopicJobs, queue.Message{Data: []byte(`{"prompt":"fine","duration_seconds":5}`),
		Attributes: map[string]string{"project_id": "dev"}})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		return len(e.q.Published(queue.DeadLetterTopic(queue.TopicJobs))) == 1 && len(e.dispatches("alpha")) == 1
	}, 5*time.Second, 2*time.Millisecond)
	dlq := e.q.Published(queue.DeadLetterTopic(queue.TopicJobs))
	require.Contains(t, dlq[0].Attributes[queue.AttrReason], "invalid job request")
	require.Eventually(t, func() bool { return e.q.Pending(queue.SubscriptionRouter) == 0 }, 5*time.Second, 2*time.Millisecond)
}

func TestTraceContinues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, span := telemetry.Tracer().Start(context.Background(), "upstream publish")
	defer span.End()
	tid := telemetry.TraceID(ctx)
	require.NotEmpty(t, tid)

	// A request published straight to aiprod-jobs with trace context.
	m := queue.Message{ID: "traced", Data: []byte(`{"prompt":"a fox","duration_seconds":5}`),
		Attributes: telemetry.Inject(ctx, map[string]string{"project_id": "dev"})}
	require.Equal(t, "ack", e.deliver(t, m))
	j := e.job(t, job.IDForKey("dev", "pubsub:traced"))
	require.Equal(t, tid, j.TraceID)

	d := e.q.Published(queue.DispatchTopic("alpha"))
	require.Len(t, d, 1)
	require.Equal(t, tid, traceIDOf(d[0].Attributes[queue.AttrTraceParent]))
	require.NotEqual(t, m.Attributes[queue.AttrTraceParent], d[0].Attributes[queue.AttrTraceParent],
		"the dispatch is published from the router's own span")

	events, err := e.st.ListEvents(context.Background(), j.ID)
	require.NoError(t, err)
	for _, ev := range events {
		require.Equal(t, tid, ev.TraceID, ev.Type)
		require.NotEmpty(t, ev.SpanID)
	}
}

func traceIDOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

func TestStoreUnavailableNacks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, m := e.ingest(t, request(t))
	e.st.down.Store(true)
	require.Equal(t, "nack", e.deliver(t, m))
	direct := queue.Message{ID: "d", Data: []byte(`{"prompt":"x","duration_seconds":5}`), Attributes: map[string]string{"project_id": "dev"}}
	require.Equal(t, "nack", e.deliver(t, direct))
	require.Empty(t, e.q.Published(queue.DeadLetterTopic(queue.TopicJobs)))

	e.st.down.Store(false)
	m.DeliveryAttempt = 2
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := router.New(router.Config{})
	require.ErrorContains(t, err, "Config.Queue is required")
	cfg := router.Config{}.WithDefaults()
	require.Equal(t, router.MaxAttemptsDefault, cfg.MaxAttempts)
	require.Equal(t, router.HealthCacheTTLDefault, cfg.HealthCacheTTL)
	require.Equal(t, queue.MaxOutstandingDefault, cfg.ReceiveOptions.MaxOutstanding)
	require.True(t, errors.Is(errclass.New(errclass.Retryable, "x"), errclass.Retryable))
}
