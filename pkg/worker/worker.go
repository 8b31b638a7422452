package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Queue is what the worker needs of the queue: publish and receive.
type Queue interface {
	queue.Publisher
	queue.Subscriber
}

// Defaults of Config.
const (
	MaxAttemptsDefault       = 3
	SubmitTimeoutDefault     = time.Minute
	PollErrorLimitDefault    = 5
	GenerationTimeoutDefault = 30 * time.Minute
	// MaxPollBackoff caps the wait between failed polls.
	MaxPollBackoff = 30 * time.Second
)

// Stage is the timeline stage of the worker's events.
const Stage = "worker"

// Config configures a Worker.
type Config struct {
	Queue Queue       // required
	Store store.Store // required
	// Backends are the adapters this worker serves, by backend name; each
	// must be in Catalog. Required, at least one.
	Backends map[string]backend.Backend
	Catalog  *catalog.Catalog // required
	Circuit  circuit.Config
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	// ReceiveOptions is the flow control of each worker subscription.
	ReceiveOptions queue.ReceiveOptions
	// PollInterval overrides every backend's PollInterval when positive.
	PollInterval time.Duration
	// MaxAttempts is how many attempts a job may have before a retryable
	// failure fails it with backend_failed. 0: MaxAttemptsDefault.
	MaxAttempts int
	// SubmitTimeout bounds one Submit call; an intent older than twice this
	// without a handle is presumed abandoned. 0: SubmitTimeoutDefault.
	SubmitTimeout time.Duration
	// PollErrorLimit is how many consecutive failed polls are retried (with
	// backoff) before the attempt fails. 0: PollErrorLimitDefault.
	PollErrorLimit int
	// GenerationTimeout is how long after the intent a generation may run
	// before the attempt fails with timeout. 0: GenerationTimeoutDefault.
	GenerationTimeout time.Duration
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = MaxAttemptsDefault
	}
	if c.SubmitTimeout <= 0 {
		c.SubmitTimeout = SubmitTimeoutDefault
	}
	if c.PollErrorLimit <= 0 {
		c.PollErrorLimit = PollErrorLimitDefault
	}
	if c.GenerationTimeout <= 0 {
		c.GenerationTimeout = GenerationTimeoutDefault
	}
	c.Circuit = c.Circuit.WithDefaults()
	c.ReceiveOptions = c.ReceiveOptions.WithDefaults()
	return c
}

// Validate reports the first missing or inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.Queue == nil:
		return errors.New("worker: Config.Queue is required")
	case c.Store == nil:
		return errors.New("worker: Config.Store is required")
	case c.Catalog == nil:
		return errors.New("worker: Config.Catalog is required")
	case len(c.Backends) == 0:
		return errors.New("worker: Config.Backends must name at least one backend")
	}
	for name, b := range c.Backends {
		if b == nil {
			return fmt.Errorf("worker: Config.Backends[%q] is nil", name)
		}
		if c.Catalog.Backend(name) == nil {
			return fmt.Errorf("worker: Config.Backends[%q] is not in the catalog (version %s)", name, c.Catalog.Version)
		}
	}
	return nil
}

// Worker is the worker service. It is safe for concurrent use.
type Worker struct {
	cfg   Config
	log   *slog.Logger
	names []string
	sems  map[string]chan struct{} // nil entry: no concurrency cap
}

// New returns a Worker for cfg (defaults applied, then validated).
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("service", "worker"), sems: map[string]chan struct{}{}}
	for name := range cfg.Backends {
		w.names = append(w.names, name)
		if n := cfg.Catalog.Backend(name).Concurrency; n > 0 {
			w.sems[name] = make(chan struct{}, n)
		}
	}
	sort.Strings(w.names)
	return w, nil
}

// Run consumes the subscription of every configured backend until ctx is
// done; it returns nil then, after every message in hand was acked or
// nacked. If one subscription fails, the others are stopped and its error
// returned.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(w.names))
	for i, name := range w.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := queue.WorkerSubscription(name)
			if err := w.cfg.Queue.Receive(ctx, sub, w.cfg.ReceiveOptions, w.Handler(name)); err != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("worker: receive %s: %w", sub, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Handler returns the queue.Handler of backend's subscription (see the
// package doc). It is what Run uses, exported for push subscriptions and
// tests. backend must be one of Config.Backends.
func (w *Worker) Handler(backendName string) queue.Handler {
	return func(ctx context.Context, m *queue.Message) { w.handle(ctx, backendName, m) }
}

type verdict int

const (
	ack verdict = iota
	nack
	deadLetter
)

type outcome struct {
	verdict verdict
	reason  string
	err     error
}

func acked() outcome           { return outcome{verdict: ack} }
func nacked(err error) outcome { return outcome{verdict: nack, reason: err.Error(), err: err} }
func rejected(format string, args ...any) outcome {
	return outcome{verdict: deadLetter, reason: fmt.Sprintf(format, args...)}
}

func storeOutcome(what string, err error) outcome {
	if errors.Is(err, errclass.Permanent) {
		return rejected("%s: %v", what, err)
	}
	return nacked(fmt.Errorf("%s: %w", what, err))
}

// errRaced reports that a guarded transaction found the state changed: the
// job is reloaded and the rules applied again.
var errRaced = errors.New("job state changed meanwhile")

// errUnchanged aborts a guarded transaction that has nothing to do.
var errUnchanged = errors.New("nothing to change")

func (w *Worker) handle(ctx context.Context, name string, m *queue.Message) {
	sub := queue.WorkerSubscription(name)
	ctx, span := telemetry.StartConsumer(ctx, sub, m.ID, m.Attributes,
		telemetry.AttrBackend.String(name), telemetry.AttrJobID.String(m.Attr(queue.AttrJobID)),
		telemetry.AttrProjectID.String(m.Attr(queue.AttrProjectID)))
	defer span.End()
	log := w.log.With("backend", name, "message_id", m.ID, "job_id", m.Attr(queue.AttrJobID),
		"project_id", m.Attr(queue.AttrProjectID), "attempt", m.Attr(queue.AttrAttempt), "delivery_attempt", m.DeliveryAttempt)

	o := w.process(ctx, name, m, log)
	switch o.verdict {
	case ack:
		m.Ack()
	case nack:
		span.RecordError(o.err)
		span.SetStatus(codes.Error, "nacked")
		log.WarnContext(ctx, "message nacked for redelivery", "error", o.reason)
		m.Nack()
	case deadLetter:
		span.SetStatus(codes.Error, "dead-lettered")
		span.SetAttributes(attribute.String("aiprod.dead_letter_reason", o.reason))
		if err := queue.DeadLetter(ctx, w.cfg.Queue, queue.DeadLetterTopic(queue.DispatchTopic(name)), sub, m, o.reason); err != nil {
			log.ErrorContext(ctx, "dead-letter failed; message nacked", "reason", o.reason, "error", err)
			m.Nack()
			return
		}
		log.WarnContext(ctx, "message dead-lettered", "reason", o.reason)
		m.Ack()
	}
}

// task is one dispatch being handled.
type task struct {
	name string
	be   backend.Backend
	msg  dispatch.Message
	m    *queue.Message
	log  *slog.Logger
}

func (w *Worker) process(ctx context.Context, name string, m *queue.Message, log *slog.Logger) outcome {
	be, ok := w.cfg.Backends[name]
	if !ok {
		return rejected("worker has no backend %q", name)
	}
	msg, err := dispatch.Decode(m.Data)
	if err != nil {
		return rejected("undecodable dispatch message: %v", err)
	}
	if msg.Backend != name {
		return rejected("dispatch for backend %q received on %s", msg.Backend, queue.WorkerSubscription(name))
	}
	t := &task{name: name, be: be, msg: msg, m: m, log: log}
	for range 3 {
		j, err := w.cfg.Store.GetJob(ctx, msg.JobID)
		switch {
		case errors.Is(err, errclass.NotFound):
			return rejected("job %s not found", msg.JobID)
		case err != nil:
			return storeOutcome("load job "+msg.JobID, err)
		}
		if j.ProjectID != msg.ProjectID {
			return rejected("dispatch project_id %q is not the project of job %s", msg.ProjectID, msg.JobID)
		}
		o, err := w.step(ctx, t, j)
		if !errors.Is(err, errRaced) {
			return o
		}
	}
	return nacked(fmt.Errorf("job %s kept changing under attempt %d", msg.JobID, msg.Attempt))
}

// step applies the idempotency rules of the package doc to the loaded job.
// It returns errRaced when the job must be reloaded.
func (w *Worker) step(ctx context.Context, t *task, j *job.Job) (outcome, error) {
	if j.Status.Terminal() {
		if t.m.DeliveryAttempt != 1 {
			return w.publishLifecycle(ctx, j), nil
		}
		return acked(), nil
	}
	a := j.CurrentAttempt()
	if a == nil || a.Number != t.msg.Attempt {
		t.log.InfoContext(ctx, "stale dispatch acked", "job_status", j.Status, "current_attempt", len(j.Attempts))
		return acked(), nil
	}
	if a.Backend != t.name {
		return rejected("attempt %d of job %s is on backend %q, not %q", a.Number, j.ID, a.Backend, t.name), nil
	}
	switch a.Status {
	case job.AttemptSucceeded, job.AttemptCanceled:
		return acked(), nil
	case job.AttemptFailed:
		if j.Status == job.StatusQueued {
			return w.publishReroute(ctx, j), nil
		}
		return acked(), nil
	}
	switch {
	case a.Handle != "":
		return w.generate(ctx, t, j.ID, backend.Handle(a.Handle), submittedAt(a))
	case a.Status == dispatch.AttemptDispatched && j.Status == job.StatusDispatched:
		return w.submit(ctx, t, j)
	default: // submitting (or running) without a handle
		age := w.cfg.Now().Sub(submittedAt(a))
		if age < 2*w.cfg.SubmitTimeout {
			return nacked(fmt.Errorf("attempt %d is being submitted by another worker (intent %s old)", a.Number, age.Round(time.Millisecond))), nil
		}
		msg := fmt.Sprintf("submit outcome unknown: no handle recorded %s after the submit intent", age.Round(time.Second))
		return w.fail(ctx, t, j.ID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: msg, noStrike: true}), nil
	}
}

func submittedAt(a *job.Attempt) time.Time {
	if a.SubmittedAt != nil {
		return *a.SubmittedAt
	}
	return a.StartedAt
}

// submit records the intent, submits, records the handle and polls.
func (w *Worker) submit(ctx context.Context, t *task, j *job.Job) (outcome, error) {
	release, err := w.acquire(ctx, t.name)
	if err != nil {
		return nacked(err), nil
	}
	defer release()

	now := w.cfg.Now()
	j, err = w.updateJob(ctx, j.ID, func(j *job.Job) ([]store.Event, error) {
		a := j.CurrentAttempt()
		if j.Status != job.StatusDispatched || a == nil || a.Number != t.msg.Attempt ||
			a.Status != dispatch.AttemptDispatched || a.Handle != "" {
			return nil, errRaced
		}
		a.Status = job.AttemptSubmitting
		a.SubmittedAt = &now
		if err := j.Transition(job.StatusRunning, now); err != nil {
			return nil, err
		}
		return []store.Event{w.event(ctx, now, "submitting", a, fmt.Sprintf("submitting to %s (%s, %d s)", a.Backend, a.Model, a.DurationSeconds))}, nil
	})
	switch {
	case errors.Is(err, errRaced):
		return outcome{}, errRaced
	case err != nil:
		return storeOutcome("record submit intent of job "+t.msg.JobID, err), nil
	}
	a := j.CurrentAttempt()

	// Shutdown does not interrupt a Submit: its handle must be recorded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.SubmitTimeout)
	h, err := t.be.Submit(sctx, backend.SubmitRequest{
		JobID: j.ID, Attempt: a.Number, Model: a.Model, DurationSeconds: cmpOr(a.DurationSeconds, t.msg.Seconds),
		Prompt: j.Request.Prompt, ImageURL: j.Request.ImageURL, Resolution: j.Request.Resolution,
		AspectRatio: j.Request.AspectRatio, Audio: j.Request.Audio,
	})
	cancel()
	if err != nil {
		t.log.WarnContext(ctx, "submit failed", "error", err)
		return w.fail(ctx, t, j.ID, classify(fmt.Errorf("submit job %s to %s: %w", j.ID, t.name, err))), nil
	}
	if h == "" {
		return w.fail(ctx, t, j.ID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable,
			msg: "submit returned an empty handle"}), nil
	}
	if o, ok := w.recordHandle(ctx, t, h); !ok {
		return o, nil
	}
	// A fresh generation is not done yet: wait one interval before polling.
	if err := sleep(ctx, w.pollInterval(t.be)); err != nil {
		return nacked(fmt.Errorf("shutdown while polling job %s: %w", j.ID, err)), nil
	}
	return w.generateHeld(ctx, t, j.ID, h, now), nil
}

// recordHandle stores the handle right after Submit, retrying transient
// store errors briefly (a lost handle is a paid generation lost). ok is false
// when the caller must return o instead of polling.
func (w *Worker) recordHandle(ctx context.Context, t *task, h backend.Handle) (o outcome, ok bool) {
	rctx := context.WithoutCancel(ctx)
	var err error
	for try := range 4 {
		if try > 0 {
			_ = sleep(rctx, time.Duration(try*try)*50*time.Millisecond)
		}
		now := w.cfg.Now()
		_, err = w.updateJob(rctx, t.msg.JobID, func(j *job.Job) ([]store.Event, error) {
			a := j.CurrentAttempt()
			if j.Status.Terminal() || a == nil || a.Number != t.msg.Attempt || a.Status != job.AttemptSubmitting || a.Handle != "" {
				return nil, errUnchanged
			}
			a.Status = job.AttemptRunning
			a.Handle = string(h)
			a.LastProgressAt = &now
			return []store.Event{w.event(ctx, now, "submitted", a, "accepted by "+a.Backend)}, nil
		})
		if err == nil {
			return outcome{}, true
		}
		if errors.Is(err, errUnchanged) {
			// The job was canceled, or the attempt given up, while we
			// submitted: nobody will poll this generation. Stop it.
			t.log.WarnContext(ctx, "generation orphaned by a state change during submit; canceling it at the provider", "handle", string(h))
			if cerr := t.be.Cancel(rctx, h); cerr != nil {
				t.log.ErrorContext(ctx, "cancel orphaned generation failed", "handle", string(h), "error", cerr)
			}
			return acked(), false
		}
		if errors.Is(err, errclass.Permanent) {
			break
		}
	}
	// The handle is not recorded. The intent stays: a redelivery fails the
	// attempt once the intent is older than 2×SubmitTimeout (see doc).
	t.log.ErrorContext(ctx, "could not record the handle of a submitted generation", "handle", string(h), "error", err)
	return nacked(fmt.Errorf("record handle of job %s: %w", t.msg.JobID, err)), false
}

// generate takes a concurrency slot and resumes polling a stored handle.
func (w *Worker) generate(ctx context.Context, t *task, jobID string, h backend.Handle, started time.Time) (outcome, error) {
	release, err := w.acquire(ctx, t.name)
	if err != nil {
		return nacked(err), nil
	}
	defer release()
	t.log.InfoContext(ctx, "resuming generation from stored handle", "handle", string(h))
	return w.generateHeld(ctx, t, jobID, h, started), nil
}

func (w *Worker) pollInterval(be backend.Backend) time.Duration {
	if w.cfg.PollInterval > 0 {
		return w.cfg.PollInterval
	}
	if d := be.PollInterval(); d > 0 {
		return d
	}
	return time.Second
}

// generateHeld polls h until the generation ends, then records the outcome.
// started is the submit intent's time, for GenerationTimeout. The caller
// holds a concurrency slot.
func (w *Worker) generateHeld(ctx context.Context, t *task, jobID string, h backend.Handle, started time.Time) outcome {
	interval := w.pollInterval(t.be)
	errs := 0
	for {
		st, err := t.be.Poll(ctx, h)
		if ctx.Err() != nil {
			return nacked(fmt.Errorf("shutdown while polling job %s: %w", jobID, ctx.Err()))
		}
		wait := interval
		if err != nil {
			err = fmt.Errorf("poll job %s on %s: %w", jobID, t.name, err)
			f := classify(err)
			if !errclass.IsRetryable(err) {
				// The provider refuses this handle (not found, permanent):
				// the attempt is lost, not the request.
				if f.class != errclass.ContentSafety {
					f = failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: err.Error()}
				}
				return w.fail(ctx, t, jobID, f)
			}
			errs++
			if errs > w.cfg.PollErrorLimit {
				f.msg = fmt.Sprintf("%d consecutive poll errors, last: %v", errs, err)
				return w.fail(ctx, t, jobID, f)
			}
			t.log.WarnContext(ctx, "poll failed; retrying", "error", err, "consecutive_errors", errs)
			wait = min(interval<<errs, MaxPollBackoff)
			if ra, ok := errclass.RetryAfter(err); ok {
				wait = ra
			}
		} else {
			errs = 0
			if st.State.Terminal() {
				return w.finish(ctx, t, jobID, st)
			}
		}
		if w.cfg.Now().Sub(started) > w.cfg.GenerationTimeout {
			if cerr := t.be.Cancel(context.WithoutCancel(ctx), h); cerr != nil {
				t.log.WarnContext(ctx, "cancel of timed-out generation failed", "error", cerr)
			}
			return w.fail(ctx, t, jobID, failure{class: errclass.Retryable, code: job.CodeTimeout,
				msg: fmt.Sprintf("no result within %s", w.cfg.GenerationTimeout)})
		}
		if err := sleep(ctx, wait); err != nil {
			return nacked(fmt.Errorf("shutdown while polling job %s: %w", jobID, err))
		}
	}
}

// finish records a terminal provider status.
func (w *Worker) finish(ctx context.Context, t *task, jobID string, st backend.Status) outcome {
	switch st.State {
	case backend.StateSucceeded:
		return w.succeed(ctx, t, jobID, st)
	case backend.StateCanceled:
		return w.fail(ctx, t, jobID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable,
			msg: "generation canceled at the provider", billed: st.Billed})
	default:
		err := st.Err
		if err == nil {
			err = errclass.New(errclass.Retryable, "generation failed at the provider without a reason")
		}
		f := classify(fmt.Errorf("generation of job %s on %s failed: %w", jobID, t.name, err))
		f.billed = st.Billed
		return w.fail(ctx, t, jobID, f)
	}
}

func (w *Worker) succeed(ctx context.Context, t *task, jobID string, st backend.Status) outcome {
	now := w.cfg.Now()
	j, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.CurrentAttempt()
		if j.Status.Terminal() || a == nil || a.Number != t.msg.Attempt || finished(a.Status) {
			return nil, errUnchanged
		}
		secs := st.DurationSeconds
		if secs <= 0 {
			secs = cmpOr(a.DurationSeconds, t.msg.Seconds)
		}
		a.Status = job.AttemptSucceeded
		a.Cost = w.price(ctx, t, j, a, secs)
		a.EndedAt = &now
		a.LastProgressAt = &now
		j.Cost = totalCost(j.Attempts)
		j.Result = &job.Result{VideoURL: st.VideoURL, DurationSeconds: secs}
		j.Error = nil
		if err := j.Transition(job.StatusSucceeded, now); err != nil {
			return nil, err
		}
		return []store.Event{w.event(ctx, now, "succeeded", a, fmt.Sprintf("%d s video for %s", secs, a.Cost))}, nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return acked()
	case err != nil:
		return storeOutcome("record success of job "+jobID, err)
	}
	t.log.InfoContext(ctx, "job succeeded", "cost_usd", j.Cost.USD(), "video_url", j.Result.VideoURL)
	w.recordCircuit(ctx, t.name, func(b circuit.Breaker) (circuit.Breaker, bool) {
		if b.Current() == circuit.Closed && b.ConsecutiveFailures == 0 {
			return b, false // nothing to write: keep the backend document cold
		}
		return b.Success(), true
	})
	return w.publishLifecycle(ctx, j)
}

// failure is a classified attempt failure.
type failure struct {
	class    error // errclass.ContentSafety, Permanent or Retryable
	code     string
	msg      string
	billed   bool
	noStrike bool // retryable but not the backend's fault
}

func classify(err error) failure {
	switch errclass.Of(err) {
	case errclass.ContentSafety:
		return failure{class: errclass.ContentSafety, code: job.CodeContentRejected, msg: err.Error()}
	case errclass.Permanent:
		return failure{class: errclass.Permanent, code: job.CodeInvalidRequest, msg: err.Error()}
	default:
		return failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: err.Error()}
	}
}

// fail records a failed attempt and what follows for the job (see doc).
func (w *Worker) fail(ctx context.Context, t *task, jobID string, f failure) outcome {
	now := w.cfg.Now()
	j, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.CurrentAttempt()
		if j.Status.Terminal() || a == nil || a.Number != t.msg.Attempt || finished(a.Status) {
			return nil, errUnchanged
		}
		a.Status = job.AttemptFailed
		a.Error = &job.ErrorInfo{Code: f.code, Message: f.msg}
		a.EndedAt = &now
		if f.billed {
			a.Cost = w.price(ctx, t, j, a, cmpOr(a.DurationSeconds, t.msg.Seconds))
		}
		j.Cost = totalCost(j.Attempts)
		events := []store.Event{w.event(ctx, now, "attempt_failed", a, f.code+": "+f.msg)}
		switch f.class {
		case errclass.ContentSafety, errclass.Permanent:
			if err := j.Fail(f.code, f.msg, now); err != nil {
				return nil, err
			}
			events = append(events, w.event(ctx, now, "failed", a, f.code+": "+f.msg))
		default:
			if !slices.Contains(j.ExcludedBackends, a.Backend) {
				j.ExcludedBackends = append(j.ExcludedBackends, a.Backend)
			}
			if len(j.Attempts) >= w.cfg.MaxAttempts {
				msg := fmt.Sprintf("all %d attempts failed: %s", len(j.Attempts), dispatch.AttemptsSummary(j.Attempts))
				if err := j.Fail(job.CodeBackendFailed, msg, now); err != nil {
					return nil, err
				}
				events = append(events, w.event(ctx, now, "failed", a, job.CodeBackendFailed+": "+msg))
			} else {
				if err := j.Transition(job.StatusQueued, now); err != nil {
					return nil, err
				}
				events = append(events, w.event(ctx, now, "rerouted", a, "back to the router without "+a.Backend))
			}
		}
		return events, nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return acked()
	case err != nil:
		return storeOutcome("record failure of job "+jobID, err)
	}
	t.log.WarnContext(ctx, "attempt failed", "code", f.code, "error", f.msg, "job_status", j.Status)
	if f.class == errclass.Retryable && !f.noStrike {
		w.recordCircuit(ctx, t.name, func(b circuit.Breaker) (circuit.Breaker, bool) {
			return b.Failure(now, f.code+": "+f.msg, w.cfg.Circuit), true
		})
	}
	if j.Status == job.StatusQueued {
		return w.publishReroute(ctx, j)
	}
	return w.publishLifecycle(ctx, j)
}

// recordCircuit applies fn to the backend's stored breaker. Failures to
// record are logged, not retried: the job's state is already committed.
func (w *Worker) recordCircuit(ctx context.Context, name string, fn func(circuit.Breaker) (circuit.Breaker, bool)) {
	_, err := store.UpdateBackend(context.WithoutCancel(ctx), w.cfg.Store, name, w.cfg.Now(), func(b *store.BackendState) error {
		nb, write := fn(b.Breaker)
		if !write {
			return errUnchanged
		}
		b.Breaker = nb
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		w.log.ErrorContext(ctx, "record circuit state failed", "backend", name, "error", err)
	}
}

func (w *Worker) publishReroute(ctx context.Context, j *job.Job) outcome {
	next := len(j.Attempts) + 1
	if _, err := dispatch.PublishReroute(ctx, w.cfg.Queue, j.ID, j.ProjectID, next); err != nil {
		return nacked(err)
	}
	return acked()
}

func (w *Worker) publishLifecycle(ctx context.Context, j *job.Job) outcome {
	if _, err := dispatch.PublishLifecycle(ctx, w.cfg.Queue, dispatch.LifecycleOf(j)); err != nil {
		return nacked(err)
	}
	return acked()
}

// price is the catalog price of attempt a's offer for seconds, or the
// router's estimate when the catalog no longer prices it.
func (w *Worker) price(ctx context.Context, t *task, j *job.Job, a *job.Attempt, seconds int) money.Micros {
	if b := w.cfg.Catalog.Backend(a.Backend); b != nil {
		if o := b.Offer(a.Model); o != nil {
			q, why := o.Quote(b, &j.Request)
			if why == "" {
				return q.Price.Cost(seconds)
			}
			t.log.WarnContext(ctx, "offer no longer prices the request; recording the estimate", "model", a.Model, "why", why)
			return a.EstimatedCost
		}
	}
	t.log.WarnContext(ctx, "offer not in catalog; recording the estimate", "model", a.Model)
	return a.EstimatedCost
}

func totalCost(as []job.Attempt) money.Micros {
	var sum money.Micros
	for _, a := range as {
		sum += a.Cost
	}
	return sum
}

func finished(status string) bool {
	return status == job.AttemptSucceeded || status == job.AttemptFailed || status == job.AttemptCanceled
}

// updateJob runs fn on job id in one transaction and writes the job and
// fn's events. fn's errors (errRaced, errUnchanged) abort without writing
// and are returned as they are.
func (w *Worker) updateJob(ctx context.Context, id string, fn func(j *job.Job) ([]store.Event, error)) (*job.Job, error) {
	var out *job.Job
	err := w.cfg.Store.RunTx(ctx, func(tx store.Tx) error {
		out = nil
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		events, err := fn(j)
		if err != nil {
			return err
		}
		store.NormalizeTimes(j)
		if err := tx.PutJob(j); err != nil {
			return err
		}
		for _, e := range events {
			if err := tx.AddEvent(id, e); err != nil {
				return err
			}
		}
		out = j
		return nil
	})
	return out, err
}

func (w *Worker) event(ctx context.Context, at time.Time, typ string, a *job.Attempt, msg string) store.Event {
	return store.Event{
		At: store.NormalizeTime(at), Stage: Stage, Type: typ, Backend: a.Backend, Attempt: a.Number, Message: msg,
		TraceID: telemetry.TraceID(ctx), SpanID: telemetry.SpanID(ctx),
	}
}

// acquire takes one of backend name's concurrency slots, waiting for one
// until ctx is done.
func (w *Worker) acquire(ctx context.Context, name string) (release func(), err error) {
	sem := w.sems[name]
	if sem == nil {
		return func() {}, nil
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a %s concurrency slot: %w", name, ctx.Err())
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func cmpOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}
