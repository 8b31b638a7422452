package jobwrite_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

var now = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

type env struct {
	st *memstore.Store
	q  *memqueue.Queue
	w  *jobwrite.Writer
}

func setup(t *testing.T) env {
	t.Helper()
	st := memstore.New()
	q := memqueue.New()
	require.NoError(t, q.EnsureTopic(context.Background(), queue.TopicEvents))
	t.Cleanup(func() { _ = q.Close(); _ = st.Close() })
	w := jobwrite.New(jobwrite.Config{Store: st, Publisher: q, Stage: "test", Now: func() time.Time { return now },
		Retry: retry0()})
	return env{st: st, q: q, w: w}
}

func newJob(t *testing.T, e env, limit string) *job.Job {
	t.Helper()
	ctx := context.Background()
	if limit != "" {
		l := money.MustParse(limit)
		require.NoError(t, e.st.RunTx(ctx, func(tx store.Tx) error {
			return tx.PutBudget(store.Budget{ProjectID: "p", MonthlyLimit: &l})
		}))
	}
	req, err := job.ParseRequest([]byte(`{"prompt":"a fox","duration_seconds":5}`))
	require.NoError(t, err)
	j, created, err := e.w.Create(ctx, job.New("", "p", req, now), store.Event{Type: "accepted"})
	require.NoError(t, err)
	require.True(t, created)
	return j
}

// dispatch adds attempt 1 on backend b with a reservation of est.
func dispatch(tx *jobwrite.Tx, j *job.Job, est money.Micros) error {
	if err := tx.Reserve(j, est, tx.Now()); err != nil {
		return err
	}
	j.Attempts = append(j.Attempts, job.Attempt{Number: len(j.Attempts) + 1, Backend: "b", Status: job.AttemptDispatched,
		EstimatedCost: est, Reserved: est, StartedAt: tx.Now()})
	return j.Transition(job.StatusDispatched, tx.Now())
}

func TestCreateIsIdempotentAndStampsEvents(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	j := newJob(t, e, "")
	again, created, err := e.w.Create(ctx, j.Clone(), store.Event{Type: "accepted"})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, j, again)
	events, err := e.st.ListEvents(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, events, 1, "the second create wrote nothing")
	assert.Equal(t, "test", events[0].Stage)
	assert.Equal(t, now, events[0].At)
}

func TestUpdateSettlesTheBudgetExactlyOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	j := newJob(t, e, "10")
	est, cost := money.MustParse("2"), money.MustParse("1.5")

	_, err := e.w.Update(ctx, j.ID, func(tx *jobwrite.Tx, j *job.Job) error { return dispatch(tx, j, est) })
	require.NoError(t, err)
	p, _, err := budget.ReadPeriod(ctx, e.st, "p", budget.PeriodOf(now))
	require.NoError(t, err)
	assert.Equal(t, est, p.Reserved, "the dispatch reserved the estimate")

	succeed := func(tx *jobwrite.Tx, j *job.Job) error {
		a := j.CurrentAttempt()
		if a.Status.Finished() {
			return jobwrite.ErrNoChange
		}
		a.Status, a.Cost = job.AttemptSucceeded, cost
		j.Cost = cost
		tx.Event("succeeded", a, "done")
		if err := j.Transition(job.StatusRunning, tx.Now()); err != nil {
			return err
		}
		return j.Transition(job.StatusSucceeded, tx.Now())
	}
	res, err := e.w.Update(ctx, j.ID, succeed)
	require.NoError(t, err)
	assert.True(t, res.Written)
	res, err = e.w.Update(ctx, j.ID, succeed) // a redelivery
	require.NoError(t, err)
	assert.False(t, res.Written)

	p, _, err = budget.ReadPeriod(ctx, e.st, "p", budget.PeriodOf(now))
	require.NoError(t, err)
	assert.Equal(t, cost, p.Spent, "charged once")
	assert.Zero(t, p.Reserved, "the reservation was settled")
	var entry store.LedgerEntry
	require.NoError(t, e.st.RunTx(ctx, func(tx store.Tx) (err error) {
		entry, err = tx.GetLedger(store.LedgerID(j.ID, 1))
		return err
	}))
	assert.Equal(t, cost, entry.Cost)
	events, err := e.st.ListEvents(ctx, j.ID)
	require.NoError(t, err)
	types := map[string]store.Event{}
	for _, e := range events {
		types[e.Type] = e
	}
	require.Contains(t, types, "succeeded")
	assert.Equal(t, 1, types["succeeded"].Attempt)
	assert.Equal(t, "test", types["succeeded"].Stage)
	assert.Len(t, events, 2, "accepted and succeeded; the redelivery added nothing")
}

func TestUpdateRefusedReservationWritesNothingOnTheBudget(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	j := newJob(t, e, "1")
	_, err := e.w.Update(ctx, j.ID, func(tx *jobwrite.Tx, j *job.Job) error {
		err := dispatch(tx, j, money.MustParse("2"))
		require.ErrorIs(t, err, errclass.Budget)
		return j.Fail(job.CodeBudgetExceeded, err.Error(), tx.Now())
	})
	require.NoError(t, err)
	p, _, err := budget.ReadPeriod(ctx, e.st, "p", budget.PeriodOf(now))
	require.NoError(t, err)
	assert.Zero(t, p.Reserved)
	got, err := e.st.GetJob(ctx, j.ID)
	require.NoError(t, err)
	assert.Equal(t, job.StatusFailed, got.Status)
}

func TestCancelOfARunningJobLeavesSettlementToItsAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	j := newJob(t, e, "10")
	est := money.MustParse("2")
	_, err := e.w.Update(ctx, j.ID, func(tx *jobwrite.Tx, j *job.Job) error {
		if err := dispatch(tx, j, est); err != nil {
			return err
		}
		j.CurrentAttempt().Status = job.AttemptRunning
		return j.Transition(job.StatusRunning, tx.Now())
	})
	require.NoError(t, err)
	_, err = e.w.Update(ctx, j.ID, func(tx *jobwrite.Tx, j *job.Job) error {
		return j.Transition(job.StatusCanceled, tx.Now())
	})
	require.NoError(t, err)
	p, _, err := budget.ReadPeriod(ctx, e.st, "p", budget.PeriodOf(now))
	require.NoError(t, err)
	assert.Equal(t, est, p.Reserved, "held until the worker ends the running attempt")
}

func TestUpdateReturnsTheFunctionsErrorsWithoutRetrying(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := newJob(t, e, "")
	mine := errclass.New(errclass.Conflict, "raced")
	calls := 0
	res, err := e.w.Update(context.Background(), j.ID, func(*jobwrite.Tx, *job.Job) error { calls++; return mine })
	require.ErrorIs(t, err, mine)
	assert.Equal(t, 1, calls, "a conflict of the function's own is not retried")
	assert.False(t, res.Written)
	_, err = e.w.Update(context.Background(), "absent", func(*jobwrite.Tx, *job.Job) error { return nil })
	assert.ErrorIs(t, err, errclass.NotFound)
}

// flaky fails the first n transactions with err, after running them.
type flaky struct {
	*memstore.Store
	n   atomic.Int32
	err error
}

func (f *flaky) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if f.n.Add(-1) >= 0 {
		_ = f.Store.RunTx(ctx, func(tx store.Tx) error { _ = fn(tx); return errors.New("rolled back") })
		return f.err
	}
	return f.Store.RunTx(ctx, fn)
}

func TestUpdateRetriesStoreConflictsAndTransientErrors(t *testing.T) {
	t.Parallel()
	for _, class := range []error{errclass.Conflict, errclass.Retryable} {
		e := setup(t)
		j := newJob(t, e, "")
		f := &flaky{Store: e.st, err: errclass.New(class, "store says no")}
		f.n.Store(2)
		w := jobwrite.New(jobwrite.Config{Store: f, Now: func() time.Time { return now }, Retry: retry0()})
		calls := 0
		res, err := w.Update(context.Background(), j.ID, func(tx *jobwrite.Tx, j *job.Job) error {
			calls++
			j.UserID = "bob"
			return nil
		})
		require.NoError(t, err, class)
		assert.Equal(t, 3, res.Tries)
		assert.Equal(t, 3, calls)
		got, err := e.st.GetJob(context.Background(), j.ID)
		require.NoError(t, err)
		assert.Equal(t, "bob", got.UserID)
	}
}

func TestThresholdsArePublishedAfterTheCommit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := newJob(t, e, "2")
	_, err := e.w.Update(context.Background(), j.ID, func(tx *jobwrite.Tx, j *job.Job) error {
		return dispatch(tx, j, money.MustParse("1.8")) // 90%: crosses 50% and 80%
	})
	require.NoError(t, err)
	assert.Len(t, e.q.Published(queue.TopicEvents), 2)
}

// retry0 retries at once, so that tests do not wait.
func retry0() retry.Policy {
	return retry.Policy{MaxAttempts: 4, Initial: time.Millisecond, Max: time.Millisecond,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
}

// readCounting counts the job reads of the transactions it runs.
type readCounting struct {
	store.Store
	reads atomic.Int64
}

type countingTx struct {
	store.Tx
	reads *atomic.Int64
}

func (c countingTx) GetJob(id string) (*job.Job, error) {
	c.reads.Add(1)
	return c.Tx.GetJob(id)
}

func (s *readCounting) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.RunTx(ctx, func(tx store.Tx) error { return fn(countingTx{tx, &s.reads}) })
}

// TestCreateOfANewJobReadsNothing: a new job is written without reading
// (its must-not-exist precondition guards it), in one transaction; a job
// that exists is read and returned, and one whose first write's outcome
// was lost (committed, but the caller got an error) is found, not written
// twice.
func TestCreateOfANewJobReadsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	rc := &readCounting{Store: e.st}
	w := jobwrite.New(jobwrite.Config{Store: rc, Stage: "test", Now: func() time.Time { return now }, Retry: retry0()})
	req, err := job.ParseRequest([]byte(`{"prompt":"a fox","duration_seconds":5}`))
	require.NoError(t, err)
	j, created, err := w.Create(ctx, job.New("", "p", req, now), store.Event{Type: "accepted"})
	require.NoError(t, err)
	require.True(t, created)
	assert.Zero(t, rc.reads.Load(), "a new job costs no read")

	again, created, err := w.Create(ctx, j.Clone(), store.Event{Type: "accepted"})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, j, again)
	assert.EqualValues(t, 1, rc.reads.Load(), "an existing one is read once")

	w = jobwrite.New(jobwrite.Config{Store: &committedThenFails{Store: e.st}, Stage: "test", Now: func() time.Time { return now }, Retry: retry0()})
	k, created, err := w.Create(ctx, job.New("", "p", req, now.Add(time.Second)), store.Event{Type: "accepted"})
	require.NoError(t, err)
	assert.False(t, created, "the lost commit's job is found")
	events, err := e.st.ListEvents(ctx, k.ID)
	require.NoError(t, err)
	assert.Len(t, events, 1, "and its events written once")
}

// committedThenFails commits its first transaction, then reports an error
// as a lost answer would; later ones run as they are.
type committedThenFails struct {
	store.Store
	done atomic.Bool
}

func (c *committedThenFails) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := c.Store.RunTx(ctx, fn)
	if err == nil && c.done.CompareAndSwap(false, true) {
		return errclass.New(errclass.Retryable, "deadline exceeded after the commit")
	}
	return err
}
