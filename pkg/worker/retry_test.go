package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/worker"
)

func TestTransientStoreErrorsAreRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.st.failTx.Store(2) // the submit intent's write fails twice, then works

	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1), "retried in place, not nacked")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
}

func TestStoreOutageBeyondTheRetriesNacks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.st.failTx.Store(1000)
	require.Equal(t, "nack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, 0, e.fakes["alpha"].enteredCount(), "no Submit without a recorded intent")
	e.st.failTx.Store(0)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
}

func TestCircuitWriteIsRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503")})
	w := e.newWorker(t)
	_, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.st.failBackend.Store(2) // the breaker's read-modify-write fails twice

	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	require.Equal(t, 1, e.backendState(t, "alpha").Breaker.ConsecutiveFailures, "the strike is recorded despite the errors")
}

func TestHeartbeatWhilePolling(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	w := e.newWorker(t, func(c *worker.Config) { c.Heartbeat = time.Minute })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	done := make(chan string, 1)
	go func() { done <- deliver(withTag(ctx, "hb"), t, w, msg, 1) }()
	running := e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	require.Eventually(t, func() bool { return e.fakes["alpha"].polls("hb") > 0 }, 5*time.Second, time.Millisecond, "polling started")

	e.clock.Advance(2 * time.Minute)
	beat := e.wait(t, j.ID, func(j *job.Job) bool {
		return j.Attempts[0].LastProgressAt.After(*running.Attempts[0].LastProgressAt)
	})
	require.True(t, beat.UpdatedAt.After(running.UpdatedAt), "the job shows progress to stuck-job sweeps")
	require.Equal(t, running.Status, beat.Status)
	require.Len(t, e.events(t, j.ID), 2, "heartbeats write no events")
	close(hold)
	require.Equal(t, "ack", <-done)
}
