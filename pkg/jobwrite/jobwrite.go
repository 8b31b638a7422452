package jobwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// RetryDefault is the policy of Config.Retry's zero value: conflicts and
// transient store errors are retried 4 times within 3 s, 50 ms to 1 s
// apart (jittered).
var RetryDefault = retry.Policy{MaxAttempts: 4, MaxElapsed: 3 * time.Second, Initial: 50 * time.Millisecond, Max: time.Second}

// ErrNoChange, returned by an update function, makes Update write nothing:
// it returns the job as read with Result.Written false and no error.
var ErrNoChange = errclass.New(errclass.Conflict, "nothing to change")

// Config configures a Writer.
type Config struct {
	Store store.Store // required
	// Publisher publishes the budget thresholds a change crosses, after
	// the commit. Nil: they are not published.
	Publisher queue.Publisher
	// Stage is the timeline stage of the events the Writer adds (ingest,
	// router, worker, sweeper).
	Stage string
	// Retry is the policy of conflicts and transient store errors. Only
	// its timing fields matter (which errors are retried is the Writer's
	// rule); zero: RetryDefault.
	Retry  retry.Policy
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Retry = c.Retry.Or(RetryDefault)
	c.Retry.Retryable = retryable
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Writer creates and changes jobs. Safe for concurrent use.
type Writer struct{ cfg Config }

// New returns a Writer of cfg with defaults applied. It panics without a
// Store: a Writer is built once, at start-up, by code that has one.
func New(cfg Config) *Writer {
	if cfg.Store == nil {
		panic("jobwrite: Config.Store is required")
	}
	return &Writer{cfg: cfg.WithDefaults()}
}

// fnError carries an error of the caller's function through the store and
// the retry loop, which must not retry it.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// retryable is the Writer's one retry rule: conflicts (a lost race) and
// transient errors of the store, never an error of the caller's function.
func retryable(err error) bool {
	var fe *fnError
	if errors.As(err, &fe) {
		return false
	}
	return errors.Is(err, errclass.Conflict) || errclass.IsRetryable(err)
}

// unwrapFn returns the caller's error as it was returned.
func unwrapFn(err error) error {
	var fe *fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// Result is what Update did.
type Result struct {
	// Job is the job as written, or as read when Written is false.
	Job *job.Job
	// Written is false when the function returned ErrNoChange.
	Written bool
	// Tries counts the transactions run: more than one means an earlier
	// one failed, and may have committed (a transient error after the
	// commit), so an ErrNoChange may be the echo of this very change.
	Tries int
}

// Update reads job id, calls fn with the transaction's Tx and the job,
// and writes what fn changed (see the package doc), retrying conflicts and
// transient errors with the Writer's policy. fn may run more than once,
// each time on the job as read anew; it must change only j and the Tx.
// An absent job is errclass.NotFound.
func (w *Writer) Update(ctx context.Context, id string, fn func(tx *Tx, j *job.Job) error) (Result, error) {
	var (
		res       Result
		crossings []budget.Crossing
	)
	err := retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) error {
		res.Tries++
		return w.cfg.Store.RunTx(ctx, func(stx store.Tx) error {
			res.Job, res.Written, crossings = nil, false, nil
			j, err := stx.GetJob(id)
			if err != nil {
				return err
			}
			tx := w.newTx(ctx, stx, j)
			switch err := fn(tx, j); {
			case errors.Is(err, ErrNoChange):
				res.Job = j
				return nil
			case err != nil:
				return &fnError{err}
			}
			if crossings, err = tx.write(j); err != nil {
				return err
			}
			res.Job, res.Written = j, true
			return nil
		})
	})
	if err != nil {
		return Result{Tries: res.Tries}, unwrapFn(err)
	}
	w.publishThresholds(ctx, id, crossings)
	return res, nil
}

// Create stores j with events unless a job with its id exists, and returns
// the stored job and whether this call created it. An existing job is
// returned as it is, whoever created it (also one created concurrently).
func (w *Writer) Create(ctx context.Context, j *job.Job, events ...store.Event) (*job.Job, bool, error) {
	var (
		stored  *job.Job
		created bool
	)
	err := retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) error {
		return w.cfg.Store.RunTx(ctx, func(stx store.Tx) error {
			stored, created = nil, false
			existing, err := stx.GetJob(j.ID)
			switch {
			case err == nil:
				stored = existing
				return nil
			case !errors.Is(err, errclass.NotFound):
				return err
			}
			c := j.Clone()
			tx := w.newTx(ctx, stx, c)
			for _, e := range events {
				tx.AddEvent(e)
			}
			store.NormalizeTimes(c)
			if err := stx.CreateJob(c); err != nil {
				return err
			}
			if err := tx.writeEvents(c.ID); err != nil {
				return err
			}
			stored, created = c, true
			return nil
		})
	})
	if err != nil {
		return nil, false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	return stored, created, nil
}

func (w *Writer) publishThresholds(ctx context.Context, id string, crossings []budget.Crossing) {
	if len(crossings) == 0 || w.cfg.Publisher == nil {
		return
	}
	// At most once by design (see budget.PublishThresholds): log only.
	if err := budget.PublishThresholds(ctx, w.cfg.Publisher, crossings); err != nil {
		w.cfg.Logger.WarnContext(ctx, "publish budget threshold events failed", "job_id", id, "error", err)
	}
}

// RunTx runs fn in one store transaction with the Writer's retry policy
// (conflicts and transient errors; fn's own errors are returned as they
// are), for writes beside jobs (API keys, budgets) that want the same
// rule.
func (w *Writer) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) error {
		return w.cfg.Store.RunTx(ctx, func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return &fnError{err}
			}
			return nil
		})
	})
	return unwrapFn(err)
}
