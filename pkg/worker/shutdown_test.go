package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/worker"
)

// shutdownBudget is the drain budget of DESIGN (Cloud Run kills 10 s after
// SIGTERM; the worker must be done in 8 s).
const shutdownBudget = 8 * time.Second

// startWorker runs w until the returned stop is called; stop returns how
// long Run took to return after it.
func startWorker(t *testing.T, w *worker.Worker) (stop func() time.Duration) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(cancel)
	return func() time.Duration {
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(2 * shutdownBudget):
			t.Fatal("Run did not return")
		}
		return time.Since(start)
	}
}

func TestShutdownLetsASlowSubmitRecordItsHandle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	answer := make(chan struct{})
	e.fakes["alpha"].setDefault(script{answerHold: answer})
	run(t, e.newRouter(t))
	stop := startWorker(t, e.newWorker(t))

	j := e.ingest(t, ctx, request(t, "a fox"))
	require.Eventually(t, func() bool { return e.fakes["alpha"].totalSubmits() == 1 }, 5*time.Second, time.Millisecond)
	// SIGTERM while the provider's answer is on its way; it arrives soon
	// after, within the drain.
	time.AfterFunc(50*time.Millisecond, func() { close(answer) })
	took := stop()
	require.Less(t, took, shutdownBudget)

	got := e.job(t, j.ID)
	require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "the handle was recorded before Run returned")
	require.Equal(t, 1, e.q.Pending(queue.WorkerSubscription("alpha")), "the in-flight dispatch was handed back")

	run(t, e.newWorker(t)) // another instance resumes from the stored handle
	got = e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "no resubmission")
}

func TestShutdownCutsAHungSubmitAtTheDrainTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitHold: make(chan struct{})}) // the provider never answers
	run(t, e.newRouter(t))
	drain := func(c *worker.Config) { c.DrainTimeout = 300 * time.Millisecond; c.SubmitTimeout = time.Minute }
	stop := startWorker(t, e.newWorker(t, drain))

	j := e.ingest(t, ctx, request(t, "a fox"))
	require.Eventually(t, func() bool { return e.fakes["alpha"].enteredCount() == 1 }, 5*time.Second, time.Millisecond)
	took := stop()
	require.Less(t, took, shutdownBudget, "a hung Submit does not hold shutdown past the budget")
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "but it had DrainTimeout to finish")

	// The submit's outcome is unknown: the intent stays without a handle,
	// and another instance does not submit it again to the same backend.
	got := e.job(t, j.ID)
	require.Equal(t, job.AttemptSubmitting, got.Attempts[0].Status)
	require.Empty(t, got.Attempts[0].Handle)
	e.fakes["alpha"].setDefault(script{})
	e.clock.Advance(3 * time.Minute) // past 2×SubmitTimeout: alpha has no Finder
	run(t, e.newWorker(t, drain))
	got = e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "beta", got.Backend, "failed over")
	require.Equal(t, 0, e.fakes["alpha"].totalSubmits(), "never resubmitted to alpha")
	require.Equal(t, 1, e.fakes["alpha"].enteredCount(), "the only Submit to alpha is the one shutdown cut")
}

func TestShutdownWhilePollingIsQuick(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	run(t, e.newRouter(t))
	// Slow polls: the provider wants to be polled once a minute.
	stop := startWorker(t, e.newWorker(t, func(c *worker.Config) { c.PollInterval = time.Minute }))
	j := e.ingest(t, ctx, request(t, "a fox"))
	e.wait(t, j.ID, func(j *job.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Handle != "" })
	require.Less(t, stop(), time.Second, "waiting between polls ends at once")
	require.Equal(t, 1, e.q.Pending(queue.WorkerSubscription("alpha")))
}
