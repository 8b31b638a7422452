package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/worker"
)

var ctx = context.Background()

func TestSuccessRecordsCostOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: 2})
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.NotNil(t, got.CompletedAt)
	require.Nil(t, got.Error)
	require.Equal(t, &job.Result{VideoURL: "https://videos.example/alpha/alpha-gen-1.mp4", DurationSeconds: 5}, got.Result)
	a := got.Attempts[0]
	require.Equal(t, job.AttemptSucceeded, a.Status)
	require.Equal(t, "alpha-gen-1", a.Handle)
	require.NotNil(t, a.SubmittedAt)
	require.NotNil(t, a.EndedAt)
	want := money.MustParse("0.5") // $0.10/s × 5 s
	require.Equal(t, want, a.Cost)
	require.Equal(t, want, got.Cost)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, []string{"worker/submitting", "worker/submitted", "worker/succeeded"}, eventTypes(e.events(t, j.ID)))
	require.Equal(t, []dispatch.Lifecycle{dispatch.LifecycleOf(got)}, e.lifecycles(t, j.ID))

	// A duplicate and a redelivery after success change nothing, submit
	// nothing; each publishes the lifecycle event again (at least once: the
	// delivery that succeeded may have died before publishing).
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	again := e.job(t, j.ID)
	require.Equal(t, got, again)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
	require.Len(t, e.events(t, j.ID), 3)
	require.Len(t, e.lifecycles(t, j.ID), 3)

	// A clean success writes nothing to the backend's circuit.
	require.Equal(t, circuit.Closed, e.backendState(t, "alpha").Breaker.Current())
}

func TestCostUsesDeliveredDuration(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		reported int
		wantSecs int
		wantCost string
	}{
		"provider reports a shorter video": {reported: 4, wantSecs: 4, wantCost: "0.48"}, // $0.12/s
		"provider does not say: billed s":  {reported: -1, wantSecs: 5, wantCost: "0.6"},
		"provider reports the asked video": {reported: 0, wantSecs: 5, wantCost: "0.6"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.fakes["beta"].setDefault(script{reported: tt.reported})
			j, msg := e.dispatched(t, "beta", request(t, "a fox"))
			require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t), msg, 1))
			got := e.job(t, j.ID)
			require.Equal(t, tt.wantSecs, got.Result.DurationSeconds)
			require.Equal(t, money.MustParse(tt.wantCost), got.Cost)
			require.Equal(t, money.MustParse(tt.wantCost), got.Attempts[0].Cost)
		})
	}
}

func TestRedeliveryWhileRunningResumesWithoutSubmitting(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	w1, w2 := e.newWorker(t), e.newWorker(t)

	first := make(chan string, 1)
	go func() { first <- deliver(withTag(ctx, "w1"), t, w1, msg, 1) }()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })

	// The same dispatch reaches a second worker instance while the first
	// one is polling: it resumes polling the stored handle.
	second := make(chan string, 1)
	go func() { second <- deliver(withTag(ctx, "w2"), t, w2, msg, 2) }()
	require.Eventually(t, func() bool { return e.fakes["alpha"].polls("w2") > 0 }, 5*time.Second, time.Millisecond)
	close(hold)
	require.Equal(t, "ack", <-first)
	require.Equal(t, "ack", <-second)

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "no second submission")
	require.Equal(t, money.MustParse("0.5"), got.Cost, "cost recorded once")
	n := 0
	for _, ev := range e.events(t, j.ID) {
		if ev.Type == "succeeded" {
			n++
		}
	}
	require.Equal(t, 1, n)
}

func TestCrashAfterSubmitResumesOnAnotherInstance(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	// Instance 1 submits, records the handle, and dies while polling.
	cctx, crash := context.WithCancel(ctx)
	first := make(chan string, 1)
	go func() { first <- deliver(cctx, t, e.newWorker(t), msg, 1) }()
	running := e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	require.Equal(t, job.StatusRunning, running.Status)
	require.Equal(t, job.AttemptRunning, running.Attempts[0].Status)
	crash()
	require.Equal(t, "nack", <-first, "shutdown hands the message back")

	// Instance 2 gets the redelivery: it polls the stored handle.
	close(hold)
	require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t), msg, 2))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
	require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle)
	require.Equal(t, money.MustParse("0.5"), got.Cost)
}

func TestSubmitIntentWithoutHandle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	intent := func(age time.Duration) {
		_, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error {
			at := e.clock.Now().Add(-age)
			j.Attempts[0].Status = job.AttemptSubmitting
			j.Attempts[0].SubmittedAt = &at
			j.Status = job.StatusRunning
			return nil
		})
		require.NoError(t, err)
	}

	// Recent intent: another worker may be inside Submit. Wait, never submit.
	intent(10 * time.Second)
	require.Equal(t, "nack", deliver(ctx, t, w, msg, 2))
	require.Equal(t, 0, e.fakes["alpha"].totalSubmits())
	require.Equal(t, job.AttemptSubmitting, e.job(t, j.ID).Attempts[0].Status)

	// Intent older than 2×SubmitTimeout: the worker died between Submit and
	// recording the handle. Fail the attempt and reroute, no resubmission,
	// no strike against the backend.
	intent(3 * time.Minute)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 3))
	got := e.job(t, j.ID)
	require.Equal(t, 0, e.fakes["alpha"].totalSubmits())
	require.Equal(t, job.StatusQueued, got.Status)
	require.Equal(t, job.AttemptFailed, got.Attempts[0].Status)
	require.Equal(t, job.CodeBackendUnavailable, got.Attempts[0].Error.Code)
	require.Contains(t, got.Attempts[0].Error.Message, "submit outcome unknown")
	require.Equal(t, []string{"alpha"}, got.ExcludedBackends)
	require.Len(t, e.reroutes(j.ID), 1)
	require.Equal(t, 0, e.backendState(t, "alpha").Breaker.ConsecutiveFailures)
}

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	unsafe := errclass.New(errclass.ContentSafety, "prompt rejected by safety filter")
	bad := errclass.New(errclass.Permanent, "unsupported aspect ratio")
	down := errclass.New(errclass.Retryable, "503 service unavailable")
	tests := []struct {
		name       string
		s          script
		wantStatus job.Status
		wantCode   string // job error code, or the attempt's when the job is queued
		wantStrike int
		wantCost   string
	}{
		{"content safety at submit", script{submitErr: unsafe}, job.StatusFailed, job.CodeContentRejected, 0, "0"},
		{"content safety at the provider", script{final: backend.Status{State: backend.StateFailed, Err: unsafe}},
			job.StatusFailed, job.CodeContentRejected, 0, "0"},
		{"permanent at submit", script{submitErr: bad}, job.StatusFailed, job.CodeInvalidRequest, 0, "0"},
		{"permanent at the provider", script{final: backend.Status{State: backend.StateFailed, Err: bad}},
			job.StatusFailed, job.CodeInvalidRequest, 0, "0"},
		{"retryable at submit", script{submitErr: down}, job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
		{"unclassified at submit is retryable", script{submitErr: context.DeadlineExceeded}, job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
		{"failed at the provider, billed", script{final: backend.Status{State: backend.StateFailed, Err: down, Billed: true}},
			job.StatusQueued, job.CodeBackendUnavailable, 1, "0.5"},
		{"failed at the provider without a reason", script{final: backend.Status{State: backend.StateFailed}},
			job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
		{"canceled at the provider", script{final: backend.Status{State: backend.StateCanceled}},
			job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
		{"poll errors beyond the limit", script{pollErrs: 100}, job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
		{"unknown handle", script{pollErrs: 1, pollErr: errclass.New(errclass.NotFound, "no such task")},
			job.StatusQueued, job.CodeBackendUnavailable, 1, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.fakes["alpha"].setDefault(tt.s)
			w := e.newWorker(t, func(c *worker.Config) { c.PollErrorLimit = 3 })
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
			require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))

			got := e.job(t, j.ID)
			require.Equal(t, tt.wantStatus, got.Status)
			a := got.Attempts[0]
			require.Equal(t, job.AttemptFailed, a.Status)
			require.NotNil(t, a.EndedAt)
			require.Equal(t, money.MustParse(tt.wantCost), a.Cost)
			require.Equal(t, money.MustParse(tt.wantCost), got.Cost)
			require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
			require.Equal(t, tt.wantStrike, e.backendState(t, "alpha").Breaker.ConsecutiveFailures)
			if tt.wantStatus == job.StatusFailed {
				require.Equal(t, tt.wantCode, got.Error.Code)
				require.Equal(t, tt.wantCode, a.Error.Code)
				require.Empty(t, got.ExcludedBackends, "no failover")
				require.Empty(t, e.reroutes(j.ID), "no failover")
				require.Len(t, e.lifecycles(t, j.ID), 1)
				return
			}
			require.Equal(t, tt.wantCode, a.Error.Code)
			require.Nil(t, got.Error)
			require.Equal(t, []string{"alpha"}, got.ExcludedBackends)
			rr := e.reroutes(j.ID)
			require.Len(t, rr, 1)
			require.Equal(t, "2", rr[0].Attributes[queue.AttrAttempt])
			require.Equal(t, "dev", rr[0].Attributes[queue.AttrProjectID])
			require.Empty(t, e.lifecycles(t, j.ID))
		})
	}
}

func TestPollErrorsBelowTheLimitAreRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{pollErrs: 2})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t, func(c *worker.Config) { c.PollErrorLimit = 3 }), msg, 1))
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Equal(t, 0, e.backendState(t, "alpha").Breaker.ConsecutiveFailures)
}

func TestLastAttemptFailsTheJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["gamma"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "502")})
	now := e.clock.Now()
	j, msg := e.dispatched(t, "gamma", request(t, "a fox"), func(j *job.Job) {
		for i, b := range []string{"alpha", "beta"} {
			j.Attempts = append(j.Attempts, job.Attempt{Number: i + 1, Backend: b, Status: job.AttemptFailed,
				Error: &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "503"}, StartedAt: now})
		}
		j.ExcludedBackends = []string{"alpha", "beta"}
	})
	require.Equal(t, 3, msg.Attempt)
	require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t), msg, 1))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBackendFailed, got.Error.Code)
	require.Equal(t, "all 3 attempts failed: attempt 1 on alpha: backend_unavailable: 503; "+
		"attempt 2 on beta: backend_unavailable: 503; attempt 3 on gamma (g1): backend_unavailable: "+
		"submit job "+j.ID+" to gamma: 502", got.Error.Message)
	require.Empty(t, e.reroutes(j.ID))
	require.Len(t, e.lifecycles(t, j.ID), 1)
}

func TestRerouteRepublishedAfterPublishFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503")})
	e.q.failTopic.Store(queue.TopicJobs)
	e.q.failures.Store(1)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	require.Equal(t, "nack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, job.StatusQueued, e.job(t, j.ID).Status)
	require.Empty(t, e.reroutes(j.ID))

	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Len(t, e.reroutes(j.ID), 1)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "the redelivery does not submit again")
	require.Equal(t, 1, e.backendState(t, "alpha").Breaker.ConsecutiveFailures, "one strike per attempt")
}

func TestLifecycleRepublishedAfterPublishFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.q.failTopic.Store(queue.TopicEvents)
	e.q.failures.Store(1)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	require.Equal(t, "nack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Empty(t, e.lifecycles(t, j.ID))
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Len(t, e.lifecycles(t, j.ID), 1)
	require.Equal(t, money.MustParse("0.5"), e.job(t, j.ID).Cost)
}

func TestStaleAndFinishedDispatches(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)

	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	stale := msg
	stale.Attempt = 2
	require.Equal(t, "ack", deliver(ctx, t, w, stale, 1))
	require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)

	_, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error {
		return j.Transition(job.StatusCanceled, e.clock.Now())
	})
	require.NoError(t, err)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, 0, e.fakes["alpha"].totalSubmits())
	require.Equal(t, job.StatusCanceled, e.job(t, j.ID).Status)
}

func TestGenerationTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})}) // never finishes
	w := e.newWorker(t, func(c *worker.Config) { c.GenerationTimeout = time.Hour })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	done := make(chan string, 1)
	go func() { done <- deliver(ctx, t, w, msg, 1) }()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	e.clock.Advance(2 * time.Hour)
	require.Equal(t, "ack", <-done)

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusQueued, got.Status)
	require.Equal(t, job.CodeTimeout, got.Attempts[0].Error.Code)
	require.Equal(t, 1, e.fakes["alpha"].cancels, "the stuck generation is canceled at the provider")
	require.Len(t, e.reroutes(j.ID), 1)
}

func TestBadDispatchesAreDeadLettered(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	other, otherMsg := e.dispatched(t, "alpha", request(t, "a fox"))
	forged := otherMsg
	forged.ProjectID = "evil"
	forgedData, err := forged.Encode()
	require.NoError(t, err)
	missing := otherMsg
	missing.JobID = job.IDForKey("dev", "absent")
	missingData, err := missing.Encode()
	require.NoError(t, err)
	wrongBackend := otherMsg
	wrongBackend.Backend = "beta"
	wrongData, err := wrongBackend.Encode()
	require.NoError(t, err)

	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"garbage", []byte("{not json"), "undecodable dispatch message: dispatch message: invalid JSON"},
		{"missing field", []byte(`{"job_id":"x","project_id":"dev","attempt":1}`), "undecodable dispatch message: dispatch message: backend is required"},
		{"wrong topic", wrongData, `dispatch for backend "beta" received on aiprod-worker-alpha`},
		{"unknown job", missingData, "job " + missing.JobID + " not found"},
		{"another project", forgedData, `dispatch project_id "evil" is not the project of job ` + other.ID},
	}
	dlqTopic := queue.DeadLetterTopic(queue.DispatchTopic("alpha"))
	for i, tt := range tests {
		m := queue.Message{ID: tt.name, Data: tt.data, Attributes: map[string]string{"job_id": "x"}, DeliveryAttempt: 1}
		require.Equal(t, "ack", deliverRaw(ctx, w, "alpha", m), tt.name)
		dlq := e.q.Published(dlqTopic)
		require.Len(t, dlq, i+1, tt.name)
		require.Contains(t, dlq[i].Attributes[queue.AttrReason], tt.reason, tt.name)
		require.Equal(t, queue.WorkerSubscription("alpha"), dlq[i].Attributes[queue.AttrSourceSub])
		require.Equal(t, tt.data, dlq[i].Data)
	}
	require.Equal(t, 0, e.fakes["alpha"].totalSubmits())
	require.Equal(t, job.StatusDispatched, e.job(t, other.ID).Status)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, err := worker.New(worker.Config{Queue: e.q, Store: e.st, Catalog: e.cat})
	require.ErrorContains(t, err, "Config.Backends must name at least one backend")
	_, err = worker.New(worker.Config{Queue: e.q, Store: e.st, Catalog: e.cat,
		Backends: map[string]backend.Backend{"nosuch": newFake("nosuch")}})
	require.ErrorContains(t, err, `Config.Backends["nosuch"] is not in the catalog`)
	cfg := worker.Config{}.WithDefaults()
	require.Equal(t, worker.MaxAttemptsDefault, cfg.MaxAttempts)
	require.Equal(t, 42*time.Minute+30*time.Second, cfg.ReceiveOptions.MaxExtension,
		"a delivery's lease is extended for as long as it may legitimately be in hand (MaxHold)")
	require.Greater(t, cfg.MaxHold(), cfg.GenerationTimeout+cfg.CopyTimeout)
	require.Equal(t, time.Minute, worker.Config{ReceiveOptions: queue.ReceiveOptions{MaxExtension: time.Minute}}.
		WithDefaults().ReceiveOptions.MaxExtension, "a chosen extension stays")
}

// TestReceiveOptionsSizedFromConcurrency: a capped backend's subscription
// holds its concurrency plus Prefetch deliveries; an uncapped one,
// ReceiveOptions.MaxOutstanding.
func TestReceiveOptionsSizedFromConcurrency(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t) // alpha: concurrency 2; beta, gamma: none
	require.Equal(t, 2+worker.PrefetchDefault, w.ReceiveOptionsOf("alpha").MaxOutstanding)
	require.Equal(t, queue.MaxOutstandingDefault, w.ReceiveOptionsOf("beta").MaxOutstanding)
	w = e.newWorker(t, func(c *worker.Config) {
		c.Prefetch, c.ReceiveOptions = 1, queue.ReceiveOptions{MaxOutstanding: 40, MaxExtension: time.Hour}
	})
	require.Equal(t, queue.ReceiveOptions{MaxOutstanding: 3, MaxExtension: time.Hour}, w.ReceiveOptionsOf("alpha"))
	require.Equal(t, queue.ReceiveOptions{MaxOutstanding: 40, MaxExtension: time.Hour}, w.ReceiveOptionsOf("gamma"))
}

// Two deliveries of one dispatch poll the same generation (Pub/Sub
// redelivered it while the first was still working); the first records the
// success and dies before publishing the lifecycle event, and the second,
// finding the attempt finished, is the last copy of the message: it must
// publish the event before acking, or nobody ever will.
func TestConcurrentDeliveryPublishesTheLifecycleOfAFinishedAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	second := make(chan string, 1)
	cctx, crash := context.WithCancel(ctx)
	first := make(chan string, 1)
	go func() { first <- deliver(cctx, t, e.newWorker(t), msg, 1) }()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	go func() { second <- deliver(withTag(ctx, "second"), t, e.newWorker(t), msg, 2) }() // polls the same handle
	require.Eventually(t, func() bool { return e.fakes["alpha"].polls("second") > 0 }, 5*time.Second, time.Millisecond,
		"the second delivery polls the generation")

	// The first delivery's work, as committed before it died: the attempt
	// succeeded, no event published.
	crash()
	require.Equal(t, "nack", <-first)
	_, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error {
		now := time.Now()
		a := &j.Attempts[0]
		a.Status, a.EndedAt = job.AttemptSucceeded, &now
		j.Result = &job.Result{VideoURL: "https://videos.example/v.mp4", DurationSeconds: 5}
		return j.Transition(job.StatusSucceeded, now)
	})
	require.NoError(t, err)
	require.Empty(t, e.lifecycles(t, j.ID), "the first delivery died before publishing")

	require.Equal(t, "ack", <-second)
	require.Equal(t, []dispatch.Lifecycle{dispatch.LifecycleOf(e.job(t, j.ID))}, e.lifecycles(t, j.ID))
	require.Equal(t, 1, e.fakes["alpha"].totalSubmits())
}
