package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/worker"
)

// These tests run a router and a worker over memqueue and memstore, as the
// services run in production, with fake backends.

func TestPipelineHappyPathOneTrace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: 2})
	e.pipeline(t)

	ictx, span := telemetry.Tracer().Start(ctx, "ingest POST /v1/jobs")
	tid := telemetry.TraceID(ictx)
	j := e.ingest(t, ictx, request(t, "a red fox"))
	span.End()

	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "alpha", got.Backend)
	require.Equal(t, money.MustParse("0.5"), got.Cost)
	require.Equal(t, money.MustParse("0.5"), got.EstimatedCost)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))

	// One trace: stored on the job, carried by the dispatch and the
	// lifecycle event, and on every timeline event.
	require.Equal(t, tid, got.TraceID)
	d := e.q.Published(queue.DispatchTopic("alpha"))
	require.Len(t, d, 1)
	require.Equal(t, tid, traceIDOf(d[0].Attributes[queue.AttrTraceParent]))
	require.Eventually(t, func() bool { return len(e.lifecycles(t, j.ID)) == 1 }, 5*time.Second, time.Millisecond)
	for _, m := range e.q.Published(queue.TopicEvents) {
		require.Equal(t, tid, traceIDOf(m.Attributes[queue.AttrTraceParent]))
	}
	evs := e.events(t, j.ID)
	require.Equal(t, []string{"router/dispatched", "worker/submitting", "worker/submitted", "worker/succeeded"}, eventTypes(evs))
	for _, ev := range evs {
		require.Equal(t, tid, ev.TraceID, ev.Type)
	}
	require.Eventually(t, func() bool {
		return e.q.Pending(queue.SubscriptionRouter) == 0 && e.q.Pending(queue.WorkerSubscription("alpha")) == 0
	}, 5*time.Second, time.Millisecond, "every message acked")
}

func TestPipelineFailoverToNextBackend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503 from alpha")})
	e.pipeline(t)

	ictx, span := telemetry.Tracer().Start(ctx, "ingest")
	tid := telemetry.TraceID(ictx)
	j := e.ingest(t, ictx, request(t, "a fox"))
	span.End()

	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "beta", got.Backend)
	require.Equal(t, []string{"alpha"}, got.ExcludedBackends)
	require.Len(t, got.Attempts, 2)
	require.Equal(t, job.AttemptFailed, got.Attempts[0].Status)
	require.Equal(t, job.CodeBackendUnavailable, got.Attempts[0].Error.Code)
	require.Equal(t, job.AttemptSucceeded, got.Attempts[1].Status)
	require.Equal(t, money.MustParse("0.6"), got.Cost, "only the successful attempt costs")
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, 1, e.fakes["beta"].submitCount(j.ID))
	require.Equal(t, 1, e.backendState(t, "alpha").Breaker.ConsecutiveFailures)

	rr := e.reroutes(j.ID)
	require.Len(t, rr, 1)
	require.Equal(t, tid, traceIDOf(rr[0].Attributes[queue.AttrTraceParent]), "the reroute continues the job's trace")
	d := e.q.Published(queue.DispatchTopic("beta"))
	require.Len(t, d, 1)
	require.Equal(t, tid, traceIDOf(d[0].Attributes[queue.AttrTraceParent]))
}

func TestPipelineCircuitOpensThenProbeCloses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503 from alpha")})
	e.pipeline(t)

	// Three infrastructure failures open alpha's circuit; each job fails
	// over to beta.
	for i := range 3 {
		j := e.ingest(t, ctx, request(t, "fox"))
		got := e.wait(t, j.ID, terminal)
		require.Equal(t, job.StatusSucceeded, got.Status, "job %d", i)
		require.Equal(t, "beta", got.Backend)
	}
	st := e.backendState(t, "alpha")
	require.Equal(t, circuit.Open, st.Breaker.State)
	require.Equal(t, 3, st.Breaker.ConsecutiveFailures)
	require.Contains(t, st.Breaker.LastError, "503 from alpha")
	require.Equal(t, 3, e.fakes["alpha"].totalSubmits())
	require.Eventually(t, func() bool { return len(e.circuitEvents(t)) == 1 }, 5*time.Second, time.Millisecond)
	opened := e.circuitEvents(t)[0]
	require.Equal(t, "alpha", opened.Backend)
	require.Equal(t, circuit.Open, opened.State)
	require.Equal(t, circuit.Closed, opened.Previous)

	// The router now skips alpha.
	j := e.ingest(t, ctx, request(t, "fox"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Len(t, got.Attempts, 1)
	require.Equal(t, "beta", got.Attempts[0].Backend)
	require.Equal(t, 3, e.fakes["alpha"].totalSubmits())

	// After the cool-down one probe goes to alpha; it succeeds and closes
	// the circuit.
	e.fakes["alpha"].setDefault(script{})
	e.clock.Advance(circuit.CooldownDefault + time.Second)
	j = e.ingest(t, ctx, request(t, "fox"))
	got = e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "alpha", got.Backend)
	// The breaker is written after the job's outcome commits.
	require.Eventually(t, func() bool {
		st = e.backendState(t, "alpha")
		return st.Breaker.State == circuit.Closed && st.Breaker.ConsecutiveFailures == 0
	}, 5*time.Second, 5*time.Millisecond, "the probe's success closes the circuit: %+v", st.Breaker)
	require.Eventually(t, func() bool { return len(e.circuitEvents(t)) == 2 }, 5*time.Second, time.Millisecond)
	closed := e.circuitEvents(t)[1]
	require.Equal(t, circuit.Closed, closed.State, "opening and closing are announced once each")
	require.Equal(t, "alpha", closed.Backend)
}

func TestPipelineContentSafetyDoesNotFailOver(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].on("unsafe", script{submitErr: errclass.New(errclass.ContentSafety, "blocked by safety filter")})
	e.pipeline(t)

	j := e.ingest(t, ctx, request(t, "unsafe"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeContentRejected, got.Error.Code)
	require.Len(t, got.Attempts, 1)
	require.Equal(t, 0, e.fakes["beta"].totalSubmits())
	require.Equal(t, 0, e.backendState(t, "alpha").Breaker.ConsecutiveFailures, "no strike")
	require.Eventually(t, func() bool { return len(e.lifecycles(t, j.ID)) == 1 }, 5*time.Second, time.Millisecond)
	lc := e.lifecycles(t, j.ID)[0]
	require.Equal(t, job.StatusFailed, lc.Status)
	require.Equal(t, job.CodeContentRejected, lc.Error.Code)
}

func TestPipelineEveryBackendFails(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, f := range e.fakes {
		f.setDefault(script{submitErr: errclass.New(errclass.Retryable, "503")})
	}
	e.pipeline(t)

	j := e.ingest(t, ctx, request(t, "fox")) // every backend qualifies
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBackendFailed, got.Error.Code)
	require.Len(t, got.Attempts, 3)
	require.True(t, strings.HasPrefix(got.Error.Message, "all 3 attempts failed: attempt 1 on alpha (a1): backend_unavailable"), got.Error.Message)
	require.Contains(t, got.Error.Message, "attempt 3 on gamma (g1)")
	require.Equal(t, []string{"alpha", "beta", "gamma"}, got.ExcludedBackends)
	require.Equal(t, money.Micros(0), got.Cost)
}

func TestPipelineNoBackendExplains(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503")})
	e.pipeline(t)

	req := request(t, "fox")
	req.Backends = []string{"alpha"}
	j := e.ingest(t, ctx, req)
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeNoBackend, got.Error.Code)
	require.Equal(t, "no backend can serve this request: alpha: excluded after failure; beta: not in allow-list; "+
		"gamma: not in allow-list; after attempt 1 on alpha (a1): backend_unavailable: submit job "+j.ID+" to alpha: 503",
		got.Error.Message)
}

func TestPipelineConcurrencyCap(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold}) // alpha: concurrency 2 in the catalog
	e.pipeline(t)

	var ids []string
	for range 6 {
		ids = append(ids, e.ingest(t, ctx, request(t, "fox")).ID)
	}
	require.Eventually(t, func() bool { return e.fakes["alpha"].totalSubmits() == 2 }, 5*time.Second, time.Millisecond)
	close(hold)
	for _, id := range ids {
		got := e.wait(t, id, terminal)
		require.Equal(t, job.StatusSucceeded, got.Status)
		require.Equal(t, "alpha", got.Backend)
	}
	require.Equal(t, 6, e.fakes["alpha"].totalSubmits())
	require.Equal(t, 2, e.fakes["alpha"].peak(), "never more than the catalog's concurrency at once")
}

func TestPipelineUndecodableDispatchThenKeepsGoing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.pipeline(t)
	_, err := e.q.Publish(ctx, queue.DispatchTopic("alpha"), queue.Message{Data: []byte("garbage")})
	require.NoError(t, err)
	j := e.ingest(t, ctx, request(t, "fox"))
	require.Equal(t, job.StatusSucceeded, e.wait(t, j.ID, terminal).Status)
	require.Eventually(t, func() bool {
		return len(e.q.Published(queue.DeadLetterTopic(queue.DispatchTopic("alpha")))) == 1
	}, 5*time.Second, time.Millisecond)
	dlq := e.q.Published(queue.DeadLetterTopic(queue.DispatchTopic("alpha")))
	require.Contains(t, dlq[0].Attributes[queue.AttrReason], "undecodable dispatch message")
}

func TestPipelineDirectPublishedRequest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.pipeline(t)
	uctx, span := telemetry.Tracer().Start(ctx, "upstream")
	tid := telemetry.TraceID(uctx)
	_, err := e.q.Publish(uctx, queue.TopicJobs, queue.Message{
		Data:       []byte(`{"prompt":"a fox","duration_seconds":5}`),
		Attributes: telemetry.Inject(uctx, map[string]string{"project_id": "acme", "idempotency_key": "order-7"}),
	})
	span.End()
	require.NoError(t, err)
	got := e.wait(t, job.IDForKey("acme", "order-7"), terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, tid, got.TraceID)
	require.Equal(t, []dispatch.Lifecycle{dispatch.LifecycleOf(got)}, waitLifecycles(t, e, got.ID, 1))
}

func waitLifecycles(t *testing.T, e *env, id string, n int) []dispatch.Lifecycle {
	t.Helper()
	require.Eventually(t, func() bool { return len(e.lifecycles(t, id)) >= n }, 5*time.Second, time.Millisecond)
	return e.lifecycles(t, id)
}

func TestRunStopsCleanlyAndNacksInFlight(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	run(t, e.newRouter(t))
	w1 := e.newWorker(t)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w1.Run(wctx) }()

	j := e.ingest(t, ctx, request(t, "fox"))
	e.wait(t, j.ID, func(j *job.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Handle != "" })
	stop() // SIGTERM
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not stop")
	}
	require.Equal(t, 1, e.q.Pending(queue.WorkerSubscription("alpha")), "the in-flight dispatch was handed back")

	close(hold)
	run(t, e.newWorker(t)) // a new instance resumes from the stored handle
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
}

// refused is a 429 as providerhttp classifies it: not taken on.
func refused(retryAfter time.Duration) error {
	return &errclass.Error{Class: errclass.Retryable, Msg: "HTTP 429: slow down", RetryAfter: retryAfter, NotAccepted: true}
}

func TestPipelineRefusingBackendIsRetriedWhenAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: refused(300 * time.Millisecond), submitErrN: 1})
	e.pipeline(t)

	req := request(t, "fox")
	req.Backends = []string{"alpha"} // no other backend can take it
	j := e.ingest(t, ctx, req)
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status, "%+v", got.Error)
	require.Len(t, got.Attempts, 2)
	first, second := got.Attempts[0], got.Attempts[1]
	require.Equal(t, "alpha", second.Backend)
	require.NotNil(t, first.RetryAt, "a refusal records when the backend may be retried")
	require.WithinDuration(t, first.EndedAt.Add(300*time.Millisecond), *first.RetryAt, 50*time.Millisecond, "Retry-After decides")
	require.NotNil(t, second.NotBefore)
	require.Equal(t, *first.RetryAt, *second.NotBefore)
	require.False(t, second.SubmittedAt.Before(*second.NotBefore), "the worker waited for Retry-After")
	require.Equal(t, 2, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, money.MustParse("0.5"), got.Cost)
}

func TestPipelineRefusingBackendIsNotRetriedWhileOthersRemain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: refused(0), submitErrN: 1})
	e.pipeline(t)

	j := e.ingest(t, ctx, request(t, "fox"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "beta", got.Backend, "the next cheapest backend is preferred to a retry")
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
}

func TestPipelineRefusalsStopAtMaxAttempts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: refused(0)})
	e.pipeline(t, func(c *worker.Config) {
		c.RefusalBackoff = retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	})

	req := request(t, "fox")
	req.Backends = []string{"alpha"}
	j := e.ingest(t, ctx, req)
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBackendFailed, got.Error.Code, got.Error.Message)
	require.Len(t, got.Attempts, 3)
	for _, a := range got.Attempts {
		require.Equal(t, "alpha", a.Backend)
	}
	require.Equal(t, 3, e.fakes["alpha"].submitCount(j.ID))
}

func TestPipelineLongRetryAfterIsNotWaitedFor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: refused(time.Hour), submitErrN: 1})
	e.pipeline(t)

	req := request(t, "fox")
	req.Backends = []string{"alpha"}
	j := e.ingest(t, ctx, req)
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeNoBackend, got.Error.Code, "a Retry-After beyond MaxRefusalWait is not waited for")
	require.Nil(t, got.Attempts[0].RetryAt)
	require.Len(t, got.Attempts, 1)
}

// A backend's last_error (shown to every project by GET /v1/backends)
// names no job: the failure's message has its job ids taken out.
func TestCircuitLastErrorNamesNoJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503 from alpha")})
	e.pipeline(t)
	j := e.ingest(t, ctx, request(t, "a fox"))
	require.Equal(t, job.StatusSucceeded, e.wait(t, j.ID, terminal).Status)
	last := e.backendState(t, "alpha").Breaker.LastError
	require.Contains(t, last, "503 from alpha")
	require.NotContains(t, last, j.ID)
}
