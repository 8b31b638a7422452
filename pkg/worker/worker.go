package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
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
	CopyTimeoutDefault       = 10 * time.Minute
	PollErrorLimitDefault    = 5
	GenerationTimeoutDefault = 30 * time.Minute
	SlotLeaseDefault         = 2 * time.Minute
	SlotWaitDefault          = 30 * time.Second
	SubmitWaitDefault        = 30 * time.Second
	DrainTimeoutDefault      = 7 * time.Second
	HeartbeatDefault         = time.Minute
	StepBudgetDefault        = 45 * time.Second
	PrefetchDefault          = 2
	// MaxPollBackoff caps the wait between failed polls.
	MaxPollBackoff = 30 * time.Second
	// FindGrace is how long past SubmitTimeout a submit intent without a
	// handle waits before the provider is asked (backend.Finder) whether
	// the submit happened: the submitting worker's Submit has ended by then
	// and its handle write had time to land.
	FindGrace = 10 * time.Second
	// FindRetryWindow is the least time for which failed or ambiguous
	// provider lookups are retried before an unknown submit outcome fails
	// over (see "Reconciliation" in the package doc).
	FindRetryWindow = 30 * time.Second
)

// RefusalBackoffDefault spaces retries of a backend that refused a job's
// submit without taking it on (429, 503): up to 2 s after the first
// refusal, doubling to 1 min, full jitter, unless the provider gave a
// Retry-After. See Config.RefusalBackoff.
var RefusalBackoffDefault = retry.Policy{Initial: 2 * time.Second, Max: time.Minute}

// MaxRefusalWaitDefault is the longest Retry-After a job waits for on the
// backend that refused it; a longer one leaves the backend to other jobs.
const MaxRefusalWaitDefault = 5 * time.Minute

// RetryDefault is the policy of Config.Retry's zero value: transient store
// errors are retried 4 times within 3 s, 50 ms to 1 s apart (jittered).
var RetryDefault = retry.Policy{MaxAttempts: 4, MaxElapsed: 3 * time.Second, Initial: 50 * time.Millisecond, Max: time.Second}

// Stage is the timeline stage of the worker's events.
const Stage = "worker"

// Config configures a Worker.
type Config struct {
	Queue Queue       // required
	Store store.Store // required
	// Output, when set, receives a copy of every finished video (provider
	// URLs expire); the job records the copy's URL. Nil keeps provider URLs.
	Output output.Copier
	// CopyTimeout bounds one copy to Output (CopyTimeoutDefault when 0).
	CopyTimeout time.Duration
	// Backends are the adapters this worker serves, by backend name; each
	// must be in Catalog. Required, at least one. Adapters that implement
	// backend.Finder are used to reconcile unknown submit outcomes.
	Backends map[string]backend.Backend
	Catalog  *catalog.Catalog // required
	Circuit  circuit.Config
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	// ReceiveOptions is the flow control of the worker subscriptions (pull
	// mode; see ReceiveOptionsOf). MaxOutstanding applies to backends
	// without a concurrency cap: a capped backend's subscription holds at
	// most its concurrency plus Prefetch. MaxExtension 0: MaxHold().
	ReceiveOptions queue.ReceiveOptions
	// Prefetch is how many deliveries a capped backend's subscription holds
	// beyond its concurrency: ready for the next slot that frees, and,
	// refused one meanwhile, keeping the backend's waiting mark fresh, which
	// tells the stuck-job sweeper that the backend has a backlog. Anything
	// more stays in Pub/Sub, unleased. Less than 1: PrefetchDefault.
	Prefetch int
	// PollInterval overrides every backend's PollInterval when positive.
	PollInterval time.Duration
	// MaxAttempts is how many attempts a job may have before a retryable
	// failure fails it with backend_failed. 0: MaxAttemptsDefault.
	MaxAttempts int
	// SubmitTimeout bounds one Submit (and one Find) call. A submit intent
	// without a handle is reconciled after SubmitTimeout+FindGrace when the
	// adapter is a backend.Finder, and failed over after 2×SubmitTimeout
	// otherwise (see the package doc). 0: SubmitTimeoutDefault.
	SubmitTimeout time.Duration
	// PollErrorLimit is how many consecutive failed polls are retried (with
	// backoff) before the attempt fails. 0: PollErrorLimitDefault.
	PollErrorLimit int
	// GenerationTimeout is how long after the intent a generation may run
	// before the attempt fails with timeout. 0: GenerationTimeoutDefault.
	GenerationTimeout time.Duration
	// Retry is the policy for transient store errors (job, circuit and slot
	// writes) and provider Cancel calls. Zero: RetryDefault.
	Retry retry.Policy
	// SlotLease is the lease of a backend concurrency slot, renewed while
	// polling; a crashed holder's slot frees after it. 0: SlotLeaseDefault.
	SlotLease time.Duration
	// SlotWait is how long a delivery waits for a free concurrency slot
	// before it nacks. 0: SlotWaitDefault.
	SlotWait time.Duration
	// DrainTimeout is how long work that must not be cut in half (a Submit
	// and the write of its handle, a Cancel at the provider) may go on
	// after ctx is done. Keep it under Cloud Run's 10 s SIGTERM grace.
	// 0: DrainTimeoutDefault.
	DrainTimeout time.Duration
	// Heartbeat is how often a polled attempt's last_progress_at (and the
	// job's updated_at) is refreshed, so that stuck-job sweeps can tell a
	// long generation from a lost one. 0: HeartbeatDefault.
	Heartbeat time.Duration
	// StepBudget bounds one Step (push mode): no new poll starts once it is
	// spent. Keep it under the push subscription's ack deadline.
	// 0: StepBudgetDefault.
	StepBudget time.Duration
	// StepPolls, when positive, also bounds the polls of one Step.
	StepPolls int
	// SubmitWait is how long a delivery that finds another worker's submit
	// in progress (an intent without a handle, younger than the
	// reconciliation point) waits in hand, re-reading the job, before it
	// nacks. Waiting in hand instead of nacking at once saves the
	// message's delivery attempts. 0: SubmitWaitDefault.
	SubmitWait time.Duration
	// MaxDeliveryAttempts is the subscriptions' dead-letter threshold
	// (queue.Topology's). A delivery that would nack only to wait (for a
	// slot, another worker's submit, the next push step) from half of it
	// on republishes the dispatch and acks instead, so that a healthy job
	// is not dead-lettered for waiting. 0: queue.MaxDeliveryAttemptsDefault.
	MaxDeliveryAttempts int
	// RefusalBackoff spaces the retries of a backend that refused a job's
	// submit without taking it on (errclass.NotAccepted): the failed
	// attempt gets RetryAt = now + RefusalBackoff.Delay(refusals so far on
	// that backend, the error), and routing may send the job back there
	// when no other backend is left. Only Initial, Max and Multiplier
	// matter. Zero: RefusalBackoffDefault.
	RefusalBackoff retry.Policy
	// MaxRefusalWait: a refusal whose delay is longer does not make the
	// backend retryable for the job. 0: MaxRefusalWaitDefault.
	MaxRefusalWait time.Duration
	// Metrics records provider calls, generations, circuits, in-flight
	// generations and the job-write path's metrics. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// BudgetDefaults apply to projects whose budget leaves them unset, for
	// the thresholds and gauges of what the worker settles. Zero: none.
	BudgetDefaults budget.Defaults
}

// WithDefaults fills zero (and negative) fields.
func (c Config) WithDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxAttempts = cmp.Or(max(c.MaxAttempts, 0), MaxAttemptsDefault)
	c.CopyTimeout = cmp.Or(max(c.CopyTimeout, 0), CopyTimeoutDefault)
	c.SubmitTimeout = cmp.Or(max(c.SubmitTimeout, 0), SubmitTimeoutDefault)
	c.PollErrorLimit = cmp.Or(max(c.PollErrorLimit, 0), PollErrorLimitDefault)
	c.GenerationTimeout = cmp.Or(max(c.GenerationTimeout, 0), GenerationTimeoutDefault)
	c.Retry = c.Retry.Or(RetryDefault)
	c.SlotLease = cmp.Or(max(c.SlotLease, 0), SlotLeaseDefault)
	c.SlotWait = cmp.Or(max(c.SlotWait, 0), SlotWaitDefault)
	c.SubmitWait = cmp.Or(max(c.SubmitWait, 0), SubmitWaitDefault)
	c.MaxDeliveryAttempts = cmp.Or(max(c.MaxDeliveryAttempts, 0), queue.MaxDeliveryAttemptsDefault)
	if c.RefusalBackoff.Initial <= 0 && c.RefusalBackoff.Max <= 0 {
		r := RefusalBackoffDefault
		r.Rand = c.RefusalBackoff.Rand
		c.RefusalBackoff = r
	}
	c.MaxRefusalWait = cmp.Or(max(c.MaxRefusalWait, 0), MaxRefusalWaitDefault)
	c.DrainTimeout = cmp.Or(max(c.DrainTimeout, 0), DrainTimeoutDefault)
	c.Heartbeat = cmp.Or(max(c.Heartbeat, 0), HeartbeatDefault)
	c.StepBudget = cmp.Or(max(c.StepBudget, 0), StepBudgetDefault)
	c.Prefetch = cmp.Or(max(c.Prefetch, 0), PrefetchDefault)
	c.Circuit = c.Circuit.WithDefaults()
	if c.ReceiveOptions.MaxExtension == 0 {
		c.ReceiveOptions.MaxExtension = c.MaxHold()
	}
	c.ReceiveOptions = c.ReceiveOptions.WithDefaults()
	return c
}

// MaxHold is how long a pull delivery may legitimately stay in hand, with
// c's defaults applied: SubmitWait (a refusal's not-before, or another
// worker's submit), SlotWait, GenerationTimeout from the submit intent
// (checked after each poll, at most MaxPollBackoff apart, or the provider's
// interval), CopyTimeout for the video, and a minute for the writes around
// them; 42m30s by default. It is ReceiveOptions.MaxExtension's default, so
// that the queue does not deliver a message again, to another worker,
// while its generation legitimately runs.
func (c Config) MaxHold() time.Duration {
	return c.SubmitWait + c.SlotWait + c.GenerationTimeout + MaxPollBackoff + c.CopyTimeout + time.Minute
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
	cfg       Config
	log       *slog.Logger
	jobs      *jobwrite.Writer
	names     []string
	consumers map[string]*consumer.Consumer // by backend
}

// New returns a Worker for cfg (defaults applied, then validated).
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("service", "worker")}
	w.jobs = jobwrite.New(jobwrite.Config{Store: cfg.Store, Publisher: cfg.Queue, Stage: Stage, Retry: cfg.Retry, Now: cfg.Now,
		Logger: w.log, Metrics: cfg.Metrics, BudgetDefaults: cfg.BudgetDefaults})
	metered := make(map[string]backend.Backend, len(cfg.Backends))
	for name, be := range cfg.Backends {
		metered[name] = meter(name, be, cfg.Metrics)
	}
	w.cfg.Backends = metered
	for name := range cfg.Backends {
		w.names = append(w.names, name)
	}
	sort.Strings(w.names)
	w.consumers = make(map[string]*consumer.Consumer, len(w.names))
	for _, name := range w.names {
		w.consumers[name] = w.newConsumer(name)
	}
	return w, nil
}

// Run consumes the subscription of every configured backend until ctx is
// done; it returns nil then, after every message in hand was acked or
// nacked (within about DrainTimeout). If one subscription fails, the others
// are stopped and its error returned.
func (w *Worker) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, name := range w.names {
		c := w.consumers[name]
		g.Go(func() error {
			if err := c.Run(ctx, w.cfg.Queue); err != nil {
				return fmt.Errorf("worker: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Handler returns the queue.Handler of backend's subscription (see the
// package doc), for pull subscriptions: it polls the generation to its end
// (the queue extends the message's lease meanwhile), then acks. It is what
// Run uses. backendName must be one of Config.Backends.
func (w *Worker) Handler(backendName string) queue.Handler {
	c := w.consumerOf(backendName)
	return func(ctx context.Context, m *queue.Message) { c.Handle(ctx, m) }
}

// ReceiveOptionsOf returns the flow control of backend name's
// subscription in pull mode: Config.ReceiveOptions, except that a backend
// the catalog caps at n concurrent generations has MaxOutstanding n +
// Prefetch. A delivery beyond could only wait for a slot, its lease
// extended, while its message can as well wait in Pub/Sub for whichever
// instance has room.
func (w *Worker) ReceiveOptionsOf(name string) queue.ReceiveOptions {
	o := w.cfg.ReceiveOptions
	if n := w.capacity(name); n > 0 {
		o.MaxOutstanding = n + w.cfg.Prefetch
	}
	return o
}

// newConsumer returns the consumer of backend name's subscription.
func (w *Worker) newConsumer(name string) *consumer.Consumer {
	c, err := consumer.New(consumer.Config{
		Subscription: queue.WorkerSubscription(name), Topic: queue.DispatchTopic(name),
		DeadLetterTopic: queue.DeadLetterTopic(queue.DispatchTopic(name)),
		Publisher:       w.cfg.Queue, Logger: w.log, Receive: w.ReceiveOptionsOf(name), Metrics: w.cfg.Metrics,
		AnnounceDeadLetters: true,
	}, func(ctx context.Context, m *queue.Message) consumer.Outcome { return w.handle(ctx, name, m) })
	if err != nil {
		panic(err) // Config.Validate makes every field present
	}
	return c
}

// consumerOf returns backend name's consumer; one for a backend this worker
// does not serve dead-letters every message.
func (w *Worker) consumerOf(name string) *consumer.Consumer {
	if c, ok := w.consumers[name]; ok {
		return c
	}
	return w.newConsumer(name)
}

type limitsKey struct{}

// errRaced reports that a guarded transaction found the state changed: the
// job is reloaded and the rules applied again. Like errUnchanged it is an
// errclass.Conflict, so that retry never repeats it.
var errRaced = errclass.New(errclass.Conflict, "job state changed meanwhile")

// errUnchanged aborts a guarded transaction that has nothing to do.
var errUnchanged = jobwrite.ErrNoChange

// errMaybeCommitted replaces errUnchanged when the transaction was retried
// after a transient error: the first try may have committed this very
// change. The message is nacked; its redelivery sees the stored state and
// publishes whatever the first try's commit still owes (reroute, lifecycle).
var errMaybeCommitted = errclass.New(errclass.Retryable, "outcome write retried after a transient error; it may have committed")

// task is one dispatch being handled.
type task struct {
	name string
	be   backend.Backend
	msg  dispatch.Message
	m    *queue.Message
	log  *slog.Logger
	lim  *limits     // bounds of a push Step; nil in pull mode
	slot *store.Slot // the concurrency slot this delivery holds, if any
	// polling is the generation this delivery polls, once it polls one:
	// an outcome is recorded only on an attempt that holds this handle.
	polling backend.Handle
	// dispatched is when the attempt was dispatched (its started_at), which
	// the slot it takes records (store.SlotClaim.DispatchedAt).
	dispatched time.Time
}

// holder names the attempt as the holder of a concurrency slot.
func (t *task) holder() string { return t.msg.JobID + "#" + strconv.Itoa(t.msg.Attempt) }

// handle applies the rules of the package doc to one message of backend
// name's subscription: it is the consumer.Handler of that subscription.
// A push step passes its limits in ctx (Step).
func (w *Worker) handle(ctx context.Context, name string, m *queue.Message) consumer.Outcome {
	lim, _ := ctx.Value(limitsKey{}).(*limits)
	o, t := w.process(ctx, name, m, consumer.Logger(ctx), lim)
	if o.Resumes() {
		return o // polling: it settles when it ends (poll)
	}
	return w.settle(ctx, t, o)
}

// settle completes the final outcome o of t's delivery (t nil: a message
// that is no dispatch of ours): a waiting delivery near the dead-letter
// threshold is republished instead of nacked, and the slot of an acked
// one released.
func (w *Worker) settle(ctx context.Context, t *task, o consumer.Outcome) consumer.Outcome {
	republished := false
	if t != nil && o.Quiet && t.m.DeliveryAttempt >= republishFrom(w.cfg.MaxDeliveryAttempts) {
		o, republished = w.republish(ctx, t, o)
	}
	if t != nil && t.slot != nil && !republished && o.Acked() {
		// Acked: the attempt is over (or not ours). Nacked: the generation
		// may still run at the provider; the redelivery re-enters the slot,
		// or its lease expires. (An outcome that committed released the
		// slot already, before publishing.)
		w.releaseSlot(ctx, t)
	}
	return o
}

// republishFrom is the delivery attempt from which a waiting delivery is
// republished instead of nacked: half the dead-letter threshold (at least
// 2). Not just the last attempts: deliveries the handler never sees (to a
// process killed while it held them, or buffered by a client that shut
// down) count too, and several can pass in a row.
func republishFrom(maxDeliveryAttempts int) int {
	return max(2, (maxDeliveryAttempts+1)/2)
}

// republish replaces the nack of a waiting delivery near the dead-letter
// threshold: it publishes the dispatch again (a fresh message, delivery
// attempt 1; consumers are idempotent) and acks this one. If the publish
// fails, the nack stands.
func (w *Worker) republish(ctx context.Context, t *task, o consumer.Outcome) (consumer.Outcome, bool) {
	if _, err := dispatch.Publish(ctx, w.cfg.Queue, t.msg); err != nil {
		t.log.WarnContext(ctx, "republish of a waiting dispatch failed; nacking", "error", err)
		return o, false
	}
	t.log.InfoContext(ctx, "dispatch republished instead of a nack near the dead-letter threshold", "reason", o.Reason)
	return consumer.Ack(), true
}

func (w *Worker) process(ctx context.Context, name string, m *queue.Message, log *slog.Logger, lim *limits) (consumer.Outcome, *task) {
	be, ok := w.cfg.Backends[name]
	if !ok {
		return consumer.DeadLetter("worker has no backend %q", name), nil
	}
	msg, err := dispatch.Decode(m.Data)
	if err != nil {
		return consumer.DeadLetter("undecodable dispatch message: %v", err), nil
	}
	if msg.Backend != name {
		return consumer.DeadLetter("dispatch for backend %q received on %s", msg.Backend, queue.WorkerSubscription(name)), nil
	}
	t := &task{name: name, be: be, msg: msg, m: m, log: log, lim: lim}
	for range 5 {
		j, err := w.getJob(ctx, msg.JobID)
		switch {
		case errors.Is(err, errclass.NotFound):
			return consumer.DeadLetter("job %s not found", msg.JobID), t
		case err != nil:
			return consumer.StoreError("load job "+msg.JobID, err), t
		}
		if j.ProjectID != msg.ProjectID {
			return consumer.DeadLetter("dispatch project_id %q is not the project of job %s", msg.ProjectID, msg.JobID), t
		}
		if a := j.Attempt(msg.Attempt); a != nil {
			t.dispatched = a.StartedAt
		}
		o, err := w.step(ctx, t, j)
		if !errors.Is(err, errRaced) {
			return o, t
		}
	}
	return consumer.Nack(fmt.Errorf("job %s kept changing under attempt %d", msg.JobID, msg.Attempt)), t
}

// step applies the idempotency rules of the package doc to the loaded job.
// It returns errRaced when the job must be reloaded.
func (w *Worker) step(ctx context.Context, t *task, j *job.Job) (consumer.Outcome, error) {
	a := j.CurrentAttempt()
	ours := a != nil && a.Number == t.msg.Attempt && a.Backend == t.name
	if j.Status.Terminal() {
		if j.Status == job.StatusCanceled && ours && !a.Status.Finished() {
			if o, err := w.cancelAttempt(ctx, t, j, a); err != nil || o.Verdict != consumer.VerdictAck {
				return o, err
			}
		}
		// The delivery that ended the job may have died before publishing,
		// and a duplicate (a concurrent redelivery, a republished or
		// re-driven copy) may be the last message left: publish again.
		return w.publishLifecycle(ctx, j), nil
	}
	if a == nil || a.Number != t.msg.Attempt {
		t.log.InfoContext(ctx, "stale dispatch acked", "job_status", j.Status, "current_attempt", len(j.Attempts))
		return consumer.Ack(), nil
	}
	if !ours {
		return consumer.DeadLetter("attempt %d of job %s is on backend %q, not %q", a.Number, j.ID, a.Backend, t.name), nil
	}
	switch a.Status {
	case job.AttemptSucceeded, job.AttemptCanceled:
		return consumer.Ack(), nil
	case job.AttemptFailed:
		if j.Status == job.StatusQueued {
			return w.publishReroute(ctx, j), nil
		}
		return consumer.Ack(), nil
	}
	switch {
	case a.Handle != "":
		return w.resume(ctx, t, j.ID, backend.Handle(a.Handle), submittedAt(a)), nil
	case a.Status == job.AttemptDispatched && j.Status == job.StatusDispatched:
		return w.submit(ctx, t, j)
	default: // submitting (or running) without a handle
		return w.reconcile(ctx, t, j, a)
	}
}

// getJob reads a job, retrying transient store errors.
func (w *Worker) getJob(ctx context.Context, id string) (*job.Job, error) {
	var j *job.Job
	err := retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) (err error) {
		j, err = w.cfg.Store.GetJob(ctx, id)
		return err
	})
	return j, err
}

// updateJob runs fn on job id through the job-write path (package
// jobwrite: one transaction, budget settled when fn ends the attempt or
// the job, thresholds published after the commit, transient errors
// retried with Config.Retry) and writes the job and fn's events. fn's
// errors (errRaced, errUnchanged) abort without writing and are returned
// as they are, except that errUnchanged after a retried try becomes
// errMaybeCommitted.
func (w *Worker) updateJob(ctx context.Context, id string, fn func(j *job.Job) ([]store.Event, error)) (*job.Job, error) {
	res, err := w.jobs.Update(ctx, id, func(tx *jobwrite.Tx, j *job.Job) error {
		events, err := fn(j)
		for _, e := range events {
			tx.AddEvent(e)
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !res.Written && res.Tries > 1:
		return nil, errMaybeCommitted
	case !res.Written:
		return nil, errUnchanged
	}
	return res.Job, nil
}

func cmpOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}
