package jobwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// RetryDefault is the policy of Config.Retry's zero value: conflicts and
// transient store errors are retried 4 times within 3 s, 50 ms to 1 s
// apart (jittered).
var RetryDefault = retry.Policy{MaxAttempts: 4, MaxElapsed: 3 * time.Second, Initial: 50 * time.Millisecond, Max: time.Second}

// ErrNoChange is what an update function returns to write nothing: Update
// then returns the job as read with Result.Written false and no error.
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
	// Metrics records jobs accepted and completed, costs and budget
	// state after each commit. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// BudgetDefaults apply to projects whose budget leaves them unset
	// (budget.Prepare): reservations, thresholds and the budget gauges
	// count a project without a limit of its own against the default.
	// Zero: none (such projects are unlimited).
	BudgetDefaults budget.Defaults
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
	u := &update{w: w, id: id, fn: fn}
	defer func() { u.last.done() }()
	err := retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) error {
		u.res.Tries++
		return w.cfg.Store.RunTx(ctx, func(stx store.Tx) error { return u.run(ctx, stx) })
	})
	if err != nil {
		return Result{Tries: u.res.Tries}, unwrapFn(err)
	}
	if u.res.Written {
		w.record(ctx, u.last)
	}
	w.publishThresholds(ctx, id, u.crossings)
	return u.res, nil
}

// update is the state of one Update across its transaction's runs (one
// allocation, which the closures share).
type update struct {
	w         *Writer
	id        string
	fn        func(tx *Tx, j *job.Job) error
	res       Result
	crossings []budget.Crossing
	last      *Tx // the transaction that committed
}

// run is one run of the transaction function.
func (u *update) run(ctx context.Context, stx store.Tx) error {
	u.res.Job, u.res.Written, u.crossings = nil, false, nil
	u.last.done() // the run before ended
	j, err := stx.GetJob(u.id)
	if err != nil {
		return err
	}
	tx := u.w.newTx(ctx, stx, j)
	u.last = tx
	switch err := u.fn(tx, j); {
	case errors.Is(err, ErrNoChange):
		u.res.Job = j
		return nil
	case err != nil:
		return &fnError{err}
	}
	if u.crossings, err = tx.write(j); err != nil {
		return err
	}
	tx.after = j
	u.res.Job, u.res.Written = j, true
	return nil
}

// record reports what a committed change did to the metrics: a job that
// ended, the cost settled, the budget state of the period.
func (w *Writer) record(ctx context.Context, tx *Tx) {
	m, j := w.cfg.Metrics, tx.after
	if j.Status.Terminal() && !tx.before.status.Terminal() {
		m.JobCompleted(ctx, j)
	}
	if tx.bk == nil {
		return
	}
	if e, ok := tx.bk.Settled(); ok && e.Cost != 0 {
		m.CostRecorded(ctx, e.ProjectID, e.Backend, e.Cost)
	}
	books, limit := tx.bk.Books()
	if p, ok := books[budget.PeriodOf(tx.now)]; ok {
		m.Budget(ctx, j.ProjectID, p.Spent, p.Reserved, limit)
	}
}

// Create stores j with events unless a job with its id exists, and returns
// the stored job and whether this call created it. An existing job is
// returned as it is, whoever created it (also one created concurrently).
//
// Most jobs are new: Create first writes the job under Firestore's
// must-not-exist precondition in a transaction that reads nothing (one
// write round trip, no read). Only when that fails (the job exists, or
// the outcome is unknown) does it read, in a transaction that returns the
// stored job or creates it, with the Writer's retry policy.
func (w *Writer) Create(ctx context.Context, j *job.Job, events ...store.Event) (*job.Job, bool, error) {
	stored, err := w.createNew(ctx, j, events)
	created := err == nil
	if !created {
		stored, created, err = w.createOrRead(ctx, j, events)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	if created {
		w.cfg.Metrics.JobAccepted(ctx, stored)
	}
	return stored, created, nil
}

// createNew writes j and its events in one transaction without reading;
// it fails when the job exists.
func (w *Writer) createNew(ctx context.Context, j *job.Job, events []store.Event) (*job.Job, error) {
	var stored *job.Job
	err := w.cfg.Store.RunTx(ctx, func(stx store.Tx) error {
		stored = nil
		c, err := w.writeNew(ctx, stx, j, events)
		stored = c
		return err
	})
	return stored, err
}

// createOrRead returns the stored job with j's id, or creates it.
func (w *Writer) createOrRead(ctx context.Context, j *job.Job, events []store.Event) (*job.Job, bool, error) {
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
			c, err := w.writeNew(ctx, stx, j, events)
			stored, created = c, err == nil
			return err
		})
	})
	return stored, created, err
}

// writeNew creates a copy of j and its events in stx.
func (w *Writer) writeNew(ctx context.Context, stx store.Tx, j *job.Job, events []store.Event) (*job.Job, error) {
	c := j.Clone()
	tx := w.newTx(ctx, stx, c)
	for _, e := range events {
		tx.AddEvent(e)
	}
	store.NormalizeTimes(c)
	if err := stx.CreateJob(c); err != nil {
		return nil, err
	}
	if err := tx.writeEvents(c.ID); err != nil {
		return nil, err
	}
	return c, nil
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

// Tx is what an update function may do besides changing the job, inside the
// job's transaction: read backends, reserve budget, and add backend states
// and timeline events to write. Its writes happen after the function
// returns, with the job's. A Tx is valid only during the function's call.
type Tx struct {
	ctx      context.Context
	stx      store.Tx
	stage    string
	defaults budget.Defaults
	now      time.Time
	before   snapshot // the job as read
	after    *job.Job // the job as written

	bk       *budget.JobTx // prepared on the first Reserve, or at write when settling
	backends []store.BackendState
	events   []store.Event
}

func (w *Writer) newTx(ctx context.Context, stx store.Tx, j *job.Job) *Tx {
	return &Tx{ctx: ctx, stx: stx, stage: w.cfg.Stage, defaults: w.cfg.BudgetDefaults, now: w.cfg.Now(),
		before: snapshot{id: j.ID, project: j.ProjectID, user: j.UserID, status: j.Status, attempts: slices.Clone(j.Attempts)}}
}

// snapshot is what a Tx keeps of the job as read, for the budget and the
// metrics to compare with the job as written: its identity, its status and
// a copy of its attempts (which update functions change in place). The
// budget reads nothing else of the job before (budget.Prepare,
// NeedsSettlement); a Clone would copy the whole job.
type snapshot struct {
	id, project, user string
	status            job.Status
	attempts          []job.Attempt
}

// job returns the job as read, as far as the snapshot knows it.
func (s *snapshot) job() job.Job {
	return job.Job{ID: s.id, ProjectID: s.project, UserID: s.user, Status: s.status, Attempts: s.attempts}
}

// done says the store transaction t was used in has ended (budget.JobTx.
// Done); nil-safe.
func (t *Tx) done() {
	if t != nil {
		t.bk.Done()
	}
}

// Now is the transaction's time (the Writer's clock when it started).
func (t *Tx) Now() time.Time { return t.now }

// Backend reads a backend's stored state (absent: enabled, closed).
func (t *Tx) Backend(name string) (store.BackendState, error) { return t.stx.GetBackend(name) }

// PutBackend writes b with the job; its times are normalized and its
// UpdatedAt set to the transaction's time.
func (t *Tx) PutBackend(b store.BackendState) {
	b.UpdatedAt = store.NormalizeTime(t.now)
	b.Breaker.OpenedAt = store.NormalizeTime(b.Breaker.OpenedAt)
	b.Breaker.ProbeStartedAt = store.NormalizeTime(b.Breaker.ProbeStartedAt)
	t.backends = append(t.backends, b)
}

// AddEvent adds e to the job's timeline. Stage, trace and span ids default
// to the Writer's stage and the context's span; At to the transaction's
// time.
func (t *Tx) AddEvent(e store.Event) {
	if e.Stage == "" {
		e.Stage = t.stage
	}
	if e.TraceID == "" && e.SpanID == "" {
		e.TraceID, e.SpanID = telemetry.TraceID(t.ctx), telemetry.SpanID(t.ctx)
	}
	if e.At.IsZero() {
		e.At = t.now
	}
	e.At = store.NormalizeTime(e.At)
	t.events = append(t.events, e)
}

// Event adds an event of type typ about attempt a (nil: about the job) at
// the transaction's time; see AddEvent.
func (t *Tx) Event(typ string, a *job.Attempt, msg string) {
	e := store.Event{Type: typ, Message: msg}
	if a != nil {
		e.Backend, e.Attempt = a.Backend, a.Number
	}
	t.AddEvent(e)
}

// Reserve reserves estimate on the budget for the job's next attempt, to
// start at at (budget.JobTx.Reserve: the reservation the job holds from an
// earlier attempt is moved, not added). It returns an errclass.Budget error
// when the project's or the user's budget refuses; the new attempt must
// then not be added. On success the caller adds the attempt with Reserved
// = estimate and StartedAt = at. j is the job as the function changes it.
func (t *Tx) Reserve(j *job.Job, estimate money.Micros, at time.Time) error {
	if err := t.prepare(); err != nil {
		return err
	}
	return t.bk.Reserve(t.stx, j, estimate, at)
}

// prepare reads the budget side of the job as read, once.
func (t *Tx) prepare() error {
	if t.bk != nil {
		return nil
	}
	before := t.before.job()
	bk, err := budget.Prepare(t.stx, &before, t.defaults)
	if err != nil {
		return err
	}
	t.bk = bk
	return nil
}

// write settles the budget when the change needs it and writes the job,
// the backends and the events. Reads end here.
func (t *Tx) write(j *job.Job) ([]budget.Crossing, error) {
	store.NormalizeTimes(j)
	var crossings []budget.Crossing
	if before := t.before.job(); t.bk != nil || budget.NeedsSettlement(&before, j) {
		if err := t.prepare(); err != nil {
			return nil, err
		}
		var err error
		if crossings, err = t.bk.Apply(t.stx, j, t.now); err != nil {
			return nil, err
		}
	}
	if err := t.stx.PutJob(j); err != nil {
		return nil, err
	}
	for _, b := range t.backends {
		if err := t.stx.PutBackend(b); err != nil {
			return nil, err
		}
	}
	return crossings, t.writeEvents(j.ID)
}

func (t *Tx) writeEvents(id string) error {
	for _, e := range t.events {
		if err := t.stx.AddEvent(id, e); err != nil {
			return err
		}
	}
	return nil
}
