package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// TestJobReadsOfASuccessfulDelivery: a delivery that submits, sees two
// polls answer running and a third succeed reads its job six times: when
// it arrives (before taking a slot), in the intent and handle
// transactions, after each poll that did not end the generation (a cancel
// is noticed within one poll interval), and in the outcome transaction;
// the poll that ends the generation is not preceded by a read that
// transaction repeats (before: seven, a read before every poll).
func TestJobReadsOfASuccessfulDelivery(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].on("reads", script{running: 2})
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "reads"))
	e.st.gets.Store(0)
	e.st.txGets.Store(0)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	require.EqualValues(t, 3, e.st.gets.Load(), "on arrival, and after each of the two polls answering running")
	require.EqualValues(t, 3, e.st.txGets.Load(), "the intent, handle and outcome transactions")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
}

// TestFinalPollOfAnAttemptEndedElsewhere: the poll that ends a generation
// goes to the outcome transaction without a read before it; when another
// delivery recorded the attempt's outcome meanwhile, that transaction
// leaves it as it is (recorded once) and, the job having ended, publishes
// its lifecycle event again (the other delivery may have died before
// publishing), as the read before the poll did.
func TestFinalPollOfAnAttemptEndedElsewhere(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var jobID string
	e.fakes["alpha"].on("elsewhere", script{beforeFinal: func() {
		_, err := storetest.UpdateJob(context.Background(), e.st, jobID, func(j *job.Job) error {
			_, err := j.SucceedAttempt(1, money.Micros(123), job.Result{VideoURL: "https://other.example/v.mp4", DurationSeconds: 5},
				time.Now())
			return err
		})
		require.NoError(t, err)
	}})
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "elsewhere"))
	jobID = j.ID
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 1))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, "https://other.example/v.mp4", got.Result.VideoURL, "the other delivery's outcome stands")
	require.Equal(t, money.Micros(123), got.Cost, "recorded once")
	ls := e.lifecycles(t, j.ID)
	require.Len(t, ls, 1, "published again by this delivery")
	require.Equal(t, job.StatusSucceeded, ls[0].Status)
}
