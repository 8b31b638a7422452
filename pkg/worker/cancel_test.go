package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/worker"
)

// cancel does what POST /v1/jobs/{id}/cancel does: the job becomes
// canceled; its attempt is left for the worker.
func (e *env) cancel(t *testing.T, id string) {
	t.Helper()
	_, err := storetest.UpdateJob(ctx, e.st, id, func(j *job.Job) error {
		if err := j.Transition(job.StatusCanceled, e.clock.Now()); err != nil {
			return err
		}
		j.Error = &job.ErrorInfo{Code: job.CodeCanceled, Message: "canceled through the API"}
		return nil
	})
	require.NoError(t, err)
}

// requireCanceled checks the end state of a canceled job: still canceled,
// attempt 1 canceled and ended with cost, the job's cost its attempts', and
// a worker event saying so.
func requireCanceled(t *testing.T, e *env, id string, cost string) *job.Job {
	t.Helper()
	got := e.job(t, id)
	require.Equal(t, job.StatusCanceled, got.Status)
	require.Equal(t, job.CodeCanceled, got.Error.Code, "the API's error stays")
	a := got.Attempts[0]
	require.Equal(t, job.AttemptCanceled, a.Status)
	require.NotNil(t, a.EndedAt)
	require.Equal(t, job.CodeCanceled, a.Error.Code)
	require.Equal(t, money.MustParse(cost), a.Cost)
	require.Equal(t, money.MustParse(cost), got.Cost)
	require.Contains(t, eventTypes(e.events(t, id)), "worker/attempt_canceled")
	return got
}

func TestCancelBeforeSubmit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.cancel(t, j.ID)

	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	requireCanceled(t, e, j.ID, "0")
	require.Equal(t, 0, e.fakes["alpha"].enteredCount(), "nothing submitted")
	require.Equal(t, 0, e.fakes["alpha"].cancelCount(), "nothing to cancel at the provider")

	// A redelivery changes nothing.
	before := e.job(t, j.ID)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Equal(t, before, e.job(t, j.ID))
}

func TestCancelRightAfterSubmitReturns(t *testing.T) {
	t.Parallel()
	for name, billed := range map[string]bool{"not billed": false, "billed": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			answer := make(chan struct{})
			e.fakes["alpha"].setDefault(script{answerHold: answer, hold: make(chan struct{}), cancelBilled: billed})
			w := e.newWorker(t)
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

			done := make(chan string, 1)
			go func() { done <- deliver(ctx, t, w, msg, 1) }()
			require.Eventually(t, func() bool { return e.fakes["alpha"].totalSubmits() == 1 }, 5*time.Second, time.Millisecond)
			e.cancel(t, j.ID) // while the provider's answer is on its way
			close(answer)
			require.Equal(t, "ack", <-done)

			want := "0"
			if billed {
				want = "0.5" // $0.10/s × 5 s
			}
			got := requireCanceled(t, e, j.ID, want)
			require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "the handle is recorded for the record")
			require.Equal(t, 1, e.fakes["alpha"].cancelCount(), "canceled at the provider")
			require.Equal(t, 0, e.fakes["alpha"].activeCount())
			require.Equal(t, 1, e.fakes["alpha"].totalSubmits())
		})
	}
}

func TestCancelWhilePolling(t *testing.T) {
	t.Parallel()
	for name, billed := range map[string]bool{"not billed": false, "billed": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.fakes["alpha"].setDefault(script{hold: make(chan struct{}), cancelBilled: billed})
			// A poll interval long enough that the test would time out if
			// the worker did not notice the cancel within one interval.
			w := e.newWorker(t, func(c *worker.Config) { c.PollInterval = 20 * time.Millisecond })
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

			done := make(chan string, 1)
			go func() { done <- deliver(ctx, t, w, msg, 1) }()
			e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
			e.cancel(t, j.ID)
			select {
			case v := <-done:
				require.Equal(t, "ack", v)
			case <-time.After(5 * time.Second):
				t.Fatal("the worker did not notice the cancel")
			}
			want := "0"
			if billed {
				want = "0.5"
			}
			requireCanceled(t, e, j.ID, want)
			require.Equal(t, 1, e.fakes["alpha"].cancelCount())
			require.Equal(t, 0, e.fakes["alpha"].activeCount(), "the generation stopped at the provider")
			require.Empty(t, e.lifecycles(t, j.ID), "the API publishes the canceled event, not the worker")
		})
	}
}

func TestCancelOfAnUnattendedGeneration(t *testing.T) {
	t.Parallel()
	// The worker that polled died; the job is canceled; the redelivery
	// cancels the generation at the provider from the stored handle.
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	cctx, crash := context.WithCancel(ctx)
	first := make(chan string, 1)
	go func() { first <- deliver(cctx, t, e.newWorker(t), msg, 1) }()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	crash()
	require.Equal(t, "nack", <-first)

	e.cancel(t, j.ID)
	require.Equal(t, "ack", deliver(ctx, t, e.newWorker(t), msg, 2))
	requireCanceled(t, e, j.ID, "0")
	require.Equal(t, 1, e.fakes["alpha"].cancelCount())
	require.Equal(t, 1, e.fakes["alpha"].totalSubmits())
}

func TestCancelWithUnknownSubmitOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		finder  bool
		lost    bool // the crashed worker's submit reached the provider
		age     time.Duration
		verdict string
		cancels int
	}{
		{"young intent: wait for the submitting worker", true, true, 10 * time.Second, "nack", 0},
		{"finder finds it: cancel it at the provider", true, true, 90 * time.Second, "ack", 1},
		{"finder proves it absent: nothing to cancel", true, false, 90 * time.Second, "ack", 0},
		{"no finder, past the timeout: record it canceled", false, true, 3 * time.Minute, "ack", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.finding["alpha"] = tt.finder
			j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
			if tt.lost {
				e.lostSubmit(t, "alpha", j)
			}
			e.intent(t, j.ID, tt.age)
			e.cancel(t, j.ID)
			w := e.newWorker(t, func(c *worker.Config) { c.SubmitTimeout = time.Minute })

			require.Equal(t, tt.verdict, deliver(ctx, t, w, msg, 2))
			require.Equal(t, tt.cancels, e.fakes["alpha"].cancelCount())
			if tt.verdict == "ack" {
				requireCanceled(t, e, j.ID, "0")
			} else {
				require.Equal(t, job.AttemptSubmitting, e.job(t, j.ID).Attempts[0].Status)
			}
			require.LessOrEqual(t, e.fakes["alpha"].totalSubmits(), 1, "never submitted by the canceling worker")
		})
	}
}

func TestGenerationGivenUpBySweeperIsCanceledAtTheProvider(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	done := make(chan string, 1)
	go func() { done <- deliver(ctx, t, w, msg, 1) }()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })

	// What the stuck-job sweeper does: fail the job and its attempt with
	// timeout, leaving the generation to the worker polling it.
	_, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error {
		now := e.clock.Now()
		a := &j.Attempts[0]
		a.Status, a.EndedAt, a.Error = job.AttemptFailed, &now, &job.ErrorInfo{Code: job.CodeTimeout, Message: "no progress"}
		return j.Fail(job.CodeTimeout, "no progress", now)
	})
	require.NoError(t, err)
	require.Equal(t, "ack", <-done)
	require.Equal(t, 1, e.fakes["alpha"].cancelCount(), "nobody will record its result: stop paying for it")
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeTimeout, got.Error.Code, "the sweeper's outcome stands")
}
