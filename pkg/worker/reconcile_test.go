package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/worker"
)

// intent leaves attempt 1 of job id as a worker that recorded its submit
// intent age ago, and no handle, leaves it: it crashed inside Submit or
// between Submit and recording the handle.
func (e *env) intent(t *testing.T, id string, age time.Duration) time.Time {
	t.Helper()
	at := store.NormalizeTime(e.clock.Now().Add(-age))
	_, err := storetest.UpdateJob(ctx, e.st, id, func(j *job.Job) error {
		a := &j.Attempts[0]
		a.Status, a.SubmittedAt, a.Handle = job.AttemptSubmitting, &at, ""
		j.Status = job.StatusRunning
		return nil
	})
	require.NoError(t, err)
	return at
}

// lostSubmit makes the provider accept job j's attempt 1, as the crashed
// worker's Submit did before it could record the handle.
func (e *env) lostSubmit(t *testing.T, backendName string, j *job.Job) backend.Handle {
	t.Helper()
	a := j.Attempts[0]
	h, err := e.fakes[backendName].Submit(ctx, backend.SubmitRequest{JobID: j.ID, Attempt: a.Number, Model: a.Model,
		DurationSeconds: a.DurationSeconds, Prompt: j.Request.Prompt, Resolution: j.Request.Resolution, AspectRatio: j.Request.AspectRatio})
	require.NoError(t, err)
	return h
}

func TestReconcileUnknownSubmitOutcome(t *testing.T) {
	t.Parallel()
	const submitTimeout = time.Minute
	tests := []struct {
		name      string
		finder    bool
		age       time.Duration
		lost      int   // generations the crashed worker's submits left at the provider
		findErr   error // the provider lookup fails
		verdict   string
		status    job.Status        // of the job afterwards
		attempt   job.AttemptStatus // status of attempt 1 afterwards
		submits   int               // Submit calls by the worker under test
		finds     int
		event     string // expected worker event, if any
		rerouted  bool
		wantGenID string // the handle the attempt ends with
	}{
		{name: "finder: intent younger than SubmitTimeout+grace: wait, ask nobody", finder: true, age: 30 * time.Second,
			verdict: "nack", status: job.StatusRunning, attempt: job.AttemptSubmitting},
		{name: "finder: found: adopt the handle and poll it", finder: true, age: 90 * time.Second, lost: 1,
			verdict: "ack", status: job.StatusSucceeded, attempt: job.AttemptSucceeded, finds: 1, event: "worker/reconciled", wantGenID: "alpha-gen-1"},
		{name: "finder: provably absent: record a fresh intent and submit", finder: true, age: 90 * time.Second,
			verdict: "ack", status: job.StatusSucceeded, attempt: job.AttemptSucceeded, submits: 1, finds: 1, event: "worker/resubmitting", wantGenID: "alpha-gen-1"},
		{name: "finder: ambiguous before the timeout: wait", finder: true, age: 90 * time.Second, lost: 2,
			verdict: "nack", status: job.StatusRunning, attempt: job.AttemptSubmitting, finds: 1},
		{name: "finder: lookup fails before the timeout: wait", finder: true, age: 90 * time.Second, findErr: errclass.New(errclass.Permanent, "listing not allowed"),
			verdict: "nack", status: job.StatusRunning, attempt: job.AttemptSubmitting, finds: 1},
		{name: "finder: ambiguous after the timeout: fail over, no resubmission", finder: true, age: 3 * time.Minute, lost: 2,
			verdict: "ack", status: job.StatusQueued, attempt: job.AttemptFailed, finds: 1, rerouted: true},
		{name: "no finder: wait until 2×SubmitTimeout even past the Find grace", age: 90 * time.Second,
			verdict: "nack", status: job.StatusRunning, attempt: job.AttemptSubmitting},
		{name: "no finder: after 2×SubmitTimeout fail over, no resubmission", age: 3 * time.Minute, lost: 1,
			verdict: "ack", status: job.StatusQueued, attempt: job.AttemptFailed, rerouted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.finding["alpha"] = tt.finder
			e.fakes["alpha"].setFindErr(tt.findErr)
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
			for range tt.lost {
				e.lostSubmit(t, "alpha", j)
			}
			before := e.fakes["alpha"].totalSubmits()
			old := e.intent(t, j.ID, tt.age)
			w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = submitTimeout })

			require.Equal(t, tt.verdict, deliver(ctx, t, w, msg, 2))
			got := e.job(t, j.ID)
			a := got.Attempts[0]
			require.Equal(t, tt.status, got.Status)
			require.Equal(t, tt.attempt, a.Status)
			require.Equal(t, tt.submits, e.fakes["alpha"].totalSubmits()-before, "Submit calls")
			require.Equal(t, tt.finds, e.fakes["alpha"].findCount(), "Find calls")
			if tt.event != "" {
				require.Contains(t, eventTypes(e.events(t, j.ID)), tt.event)
			}
			if tt.wantGenID != "" {
				require.Equal(t, tt.wantGenID, a.Handle)
			}
			if tt.event == "worker/resubmitting" {
				require.True(t, a.SubmittedAt.After(old), "a fresh intent replaces the proven-lost one")
			}
			if tt.rerouted {
				require.Equal(t, job.CodeBackendUnavailable, a.Error.Code)
				require.Contains(t, a.Error.Message, "submit outcome unknown")
				require.Equal(t, []string{"alpha"}, got.ExcludedBackends, "no resubmission to the same backend")
				require.Len(t, e.reroutes(j.ID), 1)
				require.Equal(t, 0, e.backendState(t, "alpha").Breaker.ConsecutiveFailures, "not the backend's fault")
			} else {
				require.Empty(t, e.reroutes(j.ID))
			}
			if tt.status == job.StatusSucceeded {
				require.Equal(t, 1, e.fakes["alpha"].totalSubmits(), "exactly one generation paid for")
			}
		})
	}
}

// With a short SubmitTimeout the first lookup is due after 2×SubmitTimeout
// has passed; a failed lookup must still be retried, not end in a failover
// that may orphan a paid generation.
func TestFailedLookupIsRetriedWithAShortSubmitTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.finding["alpha"] = true
	e.fakes["alpha"].setFindErr(errclass.New(errclass.Retryable, "HTTP 502 listing predictions"))
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.lostSubmit(t, "alpha", j)
	e.intent(t, j.ID, worker.FindGrace+3*time.Second)
	w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = 2 * time.Second })

	require.Equal(t, "nack", deliver(ctx, t, w, msg, 2), "the lookup is asked again on redelivery")
	require.Equal(t, job.AttemptSubmitting, e.job(t, j.ID).Attempts[0].Status)
	require.Empty(t, e.reroutes(j.ID))

	e.fakes["alpha"].setFindErr(nil)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 3))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "the lost generation is adopted, not orphaned")
	require.Equal(t, 1, e.fakes["alpha"].totalSubmits())

	// Past the retry window a failed lookup fails over.
	e2 := setup(t)
	e2.finding["alpha"] = true
	e2.fakes["alpha"].setFindErr(errclass.New(errclass.Retryable, "HTTP 502 listing predictions"))
	j2, msg2 := e2.dispatched(t, "alpha", request(t, "a fox"))
	e2.intent(t, j2.ID, 2*time.Second+worker.FindGrace+worker.FindRetryWindow+time.Second)
	w2 := e2.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = 2 * time.Second })
	require.Equal(t, "ack", deliver(ctx, t, w2, msg2, 2))
	require.Equal(t, job.AttemptFailed, e2.job(t, j2.ID).Attempts[0].Status)
	require.Len(t, e2.reroutes(j2.ID), 1)
}

func TestSubmittingWorkerAndReconcilerAgreeOnOneHandle(t *testing.T) {
	t.Parallel()
	// The provider accepted the generation but its answer is slow; a
	// reconciler adopts the generation meanwhile. When the answer finally
	// arrives, the submitting worker finds its handle already recorded: it
	// neither records a second one nor cancels the generation as an orphan.
	e := setup(t)
	e.finding["alpha"] = true
	answer := make(chan struct{})
	e.fakes["alpha"].setDefault(script{answerHold: answer})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	slow := func(c *worker.Config) { c.SubmitTimeout = time.Hour }

	first := make(chan string, 1)
	go func() { first <- deliver(ctx, t, e.newWorker(t, slow), msg, 1) }()
	require.Eventually(t, func() bool { return e.fakes["alpha"].totalSubmits() == 1 }, 5*time.Second, time.Millisecond)
	e.clock.Advance(2 * time.Hour)
	require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t, slow), msg, 2))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Contains(t, eventTypes(e.events(t, j.ID)), "worker/reconciled")

	close(answer)
	require.Equal(t, "ack", <-first)
	require.Equal(t, got, e.job(t, j.ID), "the late answer changes nothing")
	require.Equal(t, 1, e.fakes["alpha"].totalSubmits())
	require.Equal(t, 0, e.fakes["alpha"].cancelCount(), "the adopted generation is not mistaken for an orphan")
}

func TestSubmitTimeoutIsReconciledNotResubmitted(t *testing.T) {
	t.Parallel()
	for _, finder := range []bool{true, false} {
		t.Run(map[bool]string{true: "finder", false: "no finder"}[finder], func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.finding["alpha"] = finder
			// The provider accepts the generation but its answer never
			// arrives before SubmitTimeout.
			e.fakes["alpha"].setDefault(script{answerHold: make(chan struct{})})
			short := func(c *worker.Config) { c.SubmitTimeout = 50 * time.Millisecond }
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

			verdict := deliver(ctx, t, e.newWorker(t, short), msg, 1)
			require.Equal(t, 1, e.fakes["alpha"].totalSubmits())
			if !finder {
				// Nobody can ask the provider: fail over now, never resubmit here.
				require.Equal(t, "ack", verdict)
				got := e.job(t, j.ID)
				require.Equal(t, job.StatusQueued, got.Status)
				require.Contains(t, got.Attempts[0].Error.Message, "no answer within")
				require.Equal(t, []string{"alpha"}, got.ExcludedBackends)
				return
			}
			require.Equal(t, "nack", verdict, "outcome unknown: left for reconciliation")
			require.Equal(t, job.AttemptSubmitting, e.job(t, j.ID).Attempts[0].Status)

			e.clock.Advance(time.Minute) // past SubmitTimeout+FindGrace
			e.fakes["alpha"].setDefault(script{})
			require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t, short), msg, 2))
			got := e.job(t, j.ID)
			require.Equal(t, job.StatusSucceeded, got.Status)
			require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "the generation the lost answer was about")
			require.Equal(t, 1, e.fakes["alpha"].totalSubmits(), "paid once")
		})
	}
}

func TestAnotherWorkersSubmitIsAwaitedInHand(t *testing.T) {
	t.Parallel()
	t.Run("the decision point comes within SubmitWait: decide, do not nack", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		e.intent(t, j.ID, 2*time.Minute-300*time.Millisecond) // no Finder: judged at 2×SubmitTimeout
		w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute; c.SubmitWait = time.Minute })
		start := time.Now()
		require.Equal(t, "ack", deliver(ctx, t, w, msg, 1), "no delivery attempt spent on waiting")
		require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "it waited for the decision point")
		got := e.job(t, j.ID)
		require.Equal(t, job.StatusQueued, got.Status)
		require.Contains(t, got.Attempts[0].Error.Message, "submit outcome unknown")
		require.Equal(t, 0, e.fakes["alpha"].totalSubmits())
	})
	t.Run("the other worker records its handle meanwhile: resume it", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		h := e.lostSubmit(t, "alpha", j) // the other worker's Submit, answered
		e.intent(t, j.ID, 10*time.Second)
		w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute; c.SubmitWait = time.Minute })
		done := make(chan string, 1)
		go func() { done <- deliver(ctx, t, w, msg, 1) }()
		require.Eventually(t, func() bool { return e.st.gets.Load() >= 2 }, 5*time.Second, time.Millisecond, "waiting and re-reading")
		_, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error {
			j.Attempts[0].Status, j.Attempts[0].Handle = job.AttemptRunning, string(h)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, "ack", <-done)
		got := e.job(t, j.ID)
		require.Equal(t, job.StatusSucceeded, got.Status)
		require.Equal(t, 1, e.fakes["alpha"].totalSubmits(), "only the other worker's")
	})
}

func TestWaitingNearTheDeadLetterThresholdRepublishes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.intent(t, j.ID, 10*time.Second)
	w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute; c.MaxDeliveryAttempts = 10 })
	topic := queue.DispatchTopic("alpha")

	require.Equal(t, "nack", deliver(ctx, t, w, msg, 4))
	require.Empty(t, e.q.Published(topic))
	// From half the dead-letter threshold on (deliveries to killed workers
	// count too, unseen), the dispatch is published afresh instead of a
	// nack, and this delivery acked.
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 5))
	pub := e.q.Published(topic)
	require.Len(t, pub, 1)
	again, err := dispatch.Decode(pub[0].Data)
	require.NoError(t, err)
	require.Equal(t, msg, again)
	require.Equal(t, job.AttemptSubmitting, e.job(t, j.ID).Attempts[0].Status, "nothing else changed")
	require.Equal(t, 0, e.fakes["alpha"].enteredCount())
}

func TestPushStepNearTheDeadLetterThresholdKeepsItsSlot(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	w := e.newWorker(t, func(c *worker.Config) { c.StepPolls = 1 })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	res := w.Step(ctx, "alpha", stepMessage(t, msg, 10))
	require.True(t, res.Ack, "republished and acked: %+v", res)
	require.Len(t, e.q.Published(queue.DispatchTopic("alpha")), 1)
	require.Equal(t, j.ID+"#1", e.slots(t, "alpha", 2)[0].Holder, "the generation still runs: its slot stays held")
}

// A push step whose budget ends before the first poll of the generation it
// just submitted (the poll interval is longer than what is left) ends the
// same way: one republish, the slot kept.
func TestPushStepSpentBeforeItsFirstPollRepublishesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	w := e.newWorker(t, func(c *worker.Config) { c.StepBudget = time.Second; c.PollInterval = time.Minute })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	res := w.Step(ctx, "alpha", stepMessage(t, msg, 10))
	require.True(t, res.Ack, "republished and acked: %+v", res)
	require.Len(t, e.q.Published(queue.DispatchTopic("alpha")), 1)
	require.Equal(t, "alpha-gen-1", e.job(t, j.ID).Attempts[0].Handle)
	require.Equal(t, j.ID+"#1", e.slots(t, "alpha", 2)[0].Holder, "the generation still runs: its slot stays held")
}

// TestFailedOverUnknownSubmitFreesTheDeadWorkersSlot: the worker that
// recorded the intent died holding the attempt's concurrency slot; the
// redelivery that fails the attempt over frees that slot at once instead of
// leaving it held until its lease runs out.
func TestFailedOverUnknownSubmitFreesTheDeadWorkersSlot(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.intent(t, j.ID, 3*time.Minute)
	now := e.clock.Now()
	held, err := store.AcquireSlot(ctx, e.st, store.SlotClaim{Backend: "alpha", Capacity: 2, Holder: j.ID + "#1",
		Project: j.ProjectID, Lease: time.Hour}, now)
	require.NoError(t, err, "the dead worker's slot")

	w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute })
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Equal(t, job.StatusQueued, e.job(t, j.ID).Status, "failed over")

	slots, _, err := store.ReadSlots(ctx, e.st, "alpha", 2)
	require.NoError(t, err)
	require.False(t, slots[held.Index].HeldAt(e.clock.Now()), "the attempt's slot is free again: %+v", slots[held.Index])
}
