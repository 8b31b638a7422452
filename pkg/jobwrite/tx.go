package jobwrite

import (
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Tx is what an update function may do besides changing the job, inside the
// job's transaction: read backends, reserve budget, and add backend states
// and timeline events to write. Its writes happen after the function
// returns, with the job's. A Tx is valid only during the function's call.
type Tx struct {
	ctx    context.Context
	stx    store.Tx
	stage  string
	now    time.Time
	before *job.Job // the job as read

	bk       *budget.JobTx // prepared on the first Reserve, or at write when settling
	backends []store.BackendState
	events   []store.Event
}

func (w *Writer) newTx(ctx context.Context, stx store.Tx, j *job.Job) *Tx {
	return &Tx{ctx: ctx, stx: stx, stage: w.cfg.Stage, now: w.cfg.Now(), before: j.Clone()}
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
	bk, err := budget.Prepare(t.stx, t.before)
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
	if t.bk != nil || budget.NeedsSettlement(t.before, j) {
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
