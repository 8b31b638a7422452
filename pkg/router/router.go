package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Queue is what the router needs of the queue: publish and receive.
type Queue interface {
	queue.Publisher
	queue.Subscriber
}

// Defaults of Config.
const (
	MaxAttemptsDefault    = 3
	HealthCacheTTLDefault = 2 * time.Second
)

// Stage is the timeline stage of the router's events.
const Stage = "router"

// Config configures a Router.
type Config struct {
	Queue   Queue            // required
	Store   store.Store      // required
	Catalog *catalog.Catalog // required
	Circuit circuit.Config
	Logger  *slog.Logger     // nil: slog.Default()
	Now     func() time.Time // nil: time.Now
	// MaxAttempts is how many attempts a job may have; a queued job that
	// already has them fails with backend_failed. 0: MaxAttemptsDefault.
	MaxAttempts int
	// HealthCacheTTL is how long backend health read from the store is
	// reused. 0: HealthCacheTTLDefault; negative: no caching.
	HealthCacheTTL time.Duration
	// ReceiveOptions is the flow control of the aiprod-router subscription.
	ReceiveOptions queue.ReceiveOptions
	// StatsTTL is how long the learned backend figures read from the store
	// are reused (0: StatsTTLDefault), and LoadTTL the backends' load
	// (slots in use, jobs dispatched and not running; 0: LoadTTLDefault).
	// Negative: read once, never again (tests).
	StatsTTL, LoadTTL time.Duration
	// ExploreShare is the share of jobs that may go to a candidate whose
	// figures are stale (routing's Exploration; capped at
	// routing.MaxExploreShare). 0: routing.ExploreShareDefault; negative:
	// none.
	ExploreShare float64
	// Metrics records messages, jobs accepted and ended, budgets and the
	// circuits of probes taken. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// BudgetDefaults apply to projects whose budget leaves them unset: a
	// project without a monthly limit of its own is refused (budget_exceeded)
	// past the default. Zero: none (such projects are unlimited).
	BudgetDefaults budget.Defaults
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxAttempts = cmp.Or(max(c.MaxAttempts, 0), MaxAttemptsDefault)
	c.HealthCacheTTL = cmp.Or(c.HealthCacheTTL, HealthCacheTTLDefault)
	c.StatsTTL = cmp.Or(c.StatsTTL, StatsTTLDefault)
	c.LoadTTL = cmp.Or(c.LoadTTL, LoadTTLDefault)
	c.ExploreShare = cmp.Or(c.ExploreShare, routing.ExploreShareDefault)
	c.Circuit = c.Circuit.WithDefaults()
	c.ReceiveOptions = c.ReceiveOptions.WithDefaults()
	return c
}

// Validate reports the first missing required field.
func (c Config) Validate() error {
	switch {
	case c.Queue == nil:
		return errors.New("router: Config.Queue is required")
	case c.Store == nil:
		return errors.New("router: Config.Store is required")
	case c.Catalog == nil:
		return errors.New("router: Config.Catalog is required")
	}
	return nil
}

// Router is the router service. It is safe for concurrent use: Handle runs
// concurrently for up to ReceiveOptions.MaxOutstanding messages.
type Router struct {
	cfg      Config
	log      *slog.Logger
	health   healthCache
	figures  *figuresCache
	consumer *consumer.Consumer
	jobs     *jobwrite.Writer
}

// New returns a Router for cfg (defaults applied, then validated).
func New(cfg Config) (*Router, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, log: cfg.Logger.With("service", "router"), health: healthCache{ttl: cfg.HealthCacheTTL}}
	r.health.read = r.recordCircuits
	r.figures = newFiguresCache(cfg.Store, cfg.Catalog, cfg.StatsTTL, cfg.LoadTTL, r.log)
	r.jobs = jobwrite.New(jobwrite.Config{Store: cfg.Store, Publisher: cfg.Queue, Stage: Stage, Now: cfg.Now, Logger: r.log,
		Metrics: cfg.Metrics, BudgetDefaults: cfg.BudgetDefaults})
	c, err := consumer.New(consumer.Config{
		Subscription: queue.SubscriptionRouter, Topic: queue.TopicJobs, DeadLetterTopic: queue.DeadLetterTopic(queue.TopicJobs),
		Publisher: cfg.Queue, Logger: r.log, Receive: cfg.ReceiveOptions, Metrics: cfg.Metrics, AnnounceDeadLetters: true,
	}, r.process)
	if err != nil {
		return nil, err
	}
	r.consumer = c
	return r, nil
}

// Run consumes aiprod-router until ctx is done; it returns nil then, after
// every message in hand was acked or nacked.
func (r *Router) Run(ctx context.Context) error {
	if err := r.consumer.Run(ctx, r.cfg.Queue); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}

// Handle processes one message of aiprod-router (see the package doc) and
// acks or nacks it, through the subscription's consumer (package
// consumer). It is the queue.Handler of Run, exported for push
// subscriptions and tests.
func (r *Router) Handle(ctx context.Context, m *queue.Message) { r.consumer.Handle(ctx, m) }

func (r *Router) process(ctx context.Context, m *queue.Message) consumer.Outcome {
	attempt, hasAttempt, err := dispatch.ParseAttempt(m.Attributes)
	if err != nil {
		return consumer.DeadLetter("%v", err)
	}
	d := delivery{jobID: m.Attr(queue.AttrJobID), project: m.Attr(queue.AttrProjectID), attempt: attempt, hasAttempt: hasAttempt}
	if d.jobID == "" {
		j, o := r.createFromRequest(ctx, m)
		if j == nil {
			return o
		}
		d.jobID = j.ID
	} else if !job.ValidID(d.jobID) {
		return consumer.DeadLetter("attribute job_id %q is not a job id", d.jobID)
	}
	return r.route(ctx, d)
}

// delivery is what a message of aiprod-jobs says about its job.
type delivery struct {
	jobID      string
	project    string // the project_id attribute; "" when absent
	attempt    int    // the attempt attribute, when hasAttempt
	hasAttempt bool
}

// errOtherProject is what route's transaction returns for a message whose
// project_id attribute is not its job's project.
var errOtherProject = errors.New("attribute project_id is not the project of the job")

// settled handles a message whose job is no longer queued (see the package
// doc, "Idempotency rules"); j is the job as stored.
func (r *Router) settled(ctx context.Context, j *job.Job, d delivery) consumer.Outcome {
	switch {
	case j.Status.Terminal():
		// The delivery that ended the job may have died before publishing,
		// and this may be the last copy of its message: publish again.
		return r.publishLifecycle(ctx, j)
	case j.Status == job.StatusDispatched:
		cur := j.CurrentAttempt()
		if cur == nil || (d.hasAttempt && d.attempt != cur.Number) {
			return consumer.Ack() // stale: the job has moved on
		}
		return r.publishDispatch(ctx, j, cur, true)
	default: // running: a worker owns the job
		return consumer.Ack()
	}
}

// createFromRequest creates (if absent) the job of a request published
// straight to aiprod-jobs. It returns nil and the outcome when the message
// is rejected or the store failed.
func (r *Router) createFromRequest(ctx context.Context, m *queue.Message) (*job.Job, consumer.Outcome) {
	project := m.Attr(queue.AttrProjectID)
	switch {
	case project == "":
		return nil, consumer.DeadLetter("attribute project_id is required on a job request without job_id")
	case !job.ValidProjectID(project):
		return nil, consumer.DeadLetter("attribute project_id %q is not a project id (%s)", project, job.ProjectIDPattern)
	}
	req, err := job.ParseRequest(m.Data)
	if err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			return nil, consumer.DeadLetter("invalid job request: field %s: %s", fe.Field, fe.Message)
		}
		return nil, consumer.DeadLetter("invalid job request: %v", err)
	}
	key := m.Attr(queue.AttrIdempotencyKey)
	var id string
	switch {
	case key != "":
		id = job.IDForKey(project, key)
	case m.ID != "":
		id = job.IDForKey(project, "pubsub:"+m.ID)
	default:
		id = job.NewID() // a queue without message ids cannot deduplicate
	}
	fresh := job.New(id, project, req, r.cfg.Now())
	fresh.TraceID = telemetry.TraceID(ctx)
	fresh.IdempotencyKey = key

	stored, _, err := r.jobs.Create(ctx, fresh, store.Event{Type: "created", Message: "job request received on " + queue.TopicJobs})
	if err != nil {
		return nil, consumer.StoreError("create job "+id, err)
	}
	return stored, consumer.Outcome{}
}

// route dispatches d's job if it is queued, or fails it; see the package
// doc. It reads health, then reads, plans and writes the job in one
// jobwrite transaction, which is also the message's only read of the job:
// a job no longer queued (or not found, or of another project) is judged
// on what that transaction read, and nothing is written.
func (r *Router) route(ctx context.Context, d delivery) consumer.Outcome {
	health, err := r.health.get(ctx, r.cfg.Store)
	if err != nil {
		return consumer.Nack(fmt.Errorf("read backend health: %w", err))
	}
	r.figures.refresh(ctx)
	now := r.cfg.Now()
	var probe *store.BackendState
	var stats map[string]routing.BackendStats
	res, err := r.jobs.Update(ctx, d.jobID, func(tx *jobwrite.Tx, j *job.Job) error {
		probe = nil
		switch {
		case d.project != "" && d.project != j.ProjectID:
			return errOtherProject
		case j.Status != job.StatusQueued:
			return jobwrite.ErrNoChange // routed (or ended) by another delivery
		}
		if stats == nil { // the figures of the job's shape (memory only), once per message
			stats = r.figures.get(learn.RequestShape(&j.Request).Key())
		}
		p, err := r.plan(tx, j, health, stats, now)
		if err == nil {
			probe = p
		}
		return err
	})
	switch {
	case errors.Is(err, errclass.NotFound):
		return consumer.DeadLetter("job %s not found", d.jobID)
	case errors.Is(err, errOtherProject):
		return consumer.DeadLetter("attribute project_id %q is not the project of job %s", d.project, d.jobID)
	case err != nil:
		return consumer.StoreError("route job "+d.jobID, err)
	}
	if probe != nil {
		r.health.invalidate()
		r.cfg.Metrics.CircuitState(ctx, probe.Name, probe.Breaker.Current())
	}
	j := res.Job
	switch {
	case !res.Written:
		return r.settled(ctx, j, d)
	case j.Status == job.StatusDispatched:
		r.figures.dispatched(j.Backend)
		return r.publishDispatch(ctx, j, j.CurrentAttempt(), false)
	default:
		r.log.InfoContext(ctx, "job failed", "job_id", j.ID, "project_id", j.ProjectID,
			"code", j.Error.Code, "error", j.Error.Message)
		return r.publishLifecycle(ctx, j)
	}
}

// plan routes queued job j inside its transaction: it fails the job (out
// of attempts, no candidate, budget) or dispatches it to the chosen
// candidate with its estimate reserved. It returns the half-open probe it
// took, to write with the job, if any.
func (r *Router) plan(tx *jobwrite.Tx, j *job.Job, health map[string]store.BackendState,
	stats map[string]routing.BackendStats, now time.Time) (*store.BackendState, error) {
	if n := len(j.Attempts); n >= r.cfg.MaxAttempts {
		return nil, fail(tx, j, "", job.CodeBackendFailed, fmt.Sprintf("all %d attempts failed: %s", n, job.AttemptsSummary(j.Attempts)), now)
	}
	d := routing.Decide(routing.Input{
		Request: j.Request, Catalog: r.cfg.Catalog, Health: health, Excluded: j.ExcludedBackends,
		Retryable: refusedBy(j), Now: now, Circuit: r.cfg.Circuit, Stats: stats, Elapsed: now.Sub(j.CreatedAt),
		Explore: routing.Exploration{Share: max(r.cfg.ExploreShare, 0), Draw: exploreDraw(j.ID, len(j.Attempts)+1)},
	})
	c, p, err := r.choose(tx, &d, now)
	switch {
	case err != nil:
		return nil, err
	case c == nil:
		msg := d.Explain()
		if len(j.Attempts) > 0 {
			msg += "; after " + job.AttemptsSummary(j.Attempts)
		}
		return nil, fail(tx, j, "", job.CodeNoBackend, msg, now)
	}
	err = tx.Reserve(j, c.Estimate, now)
	switch {
	case errors.Is(err, errclass.Budget):
		// The probe taken for the candidate is not written: the
		// circuit stays as it was.
		return nil, fail(tx, j, c.Backend, job.CodeBudgetExceeded, err.Error(), now)
	case err != nil:
		return nil, err
	}
	if p != nil {
		tx.PutBackend(*p)
	}
	return p, dispatchTo(tx, j, c, p != nil, d.Ranking(), now)
}

// choose takes the first candidate of d that may run now: a half-open
// backend's candidate only when its probe is free (the probe taken is
// returned, to write), else it is rejected and the next one tried. It
// returns nil when no candidate is left.
func (r *Router) choose(tx *jobwrite.Tx, d *routing.Decision, now time.Time) (*routing.Candidate, *store.BackendState, error) {
	for len(d.Candidates) > 0 {
		c := d.Candidates[0]
		if !c.Probe {
			return &c, nil, nil
		}
		b, err := tx.Backend(c.Backend)
		if err != nil {
			return nil, nil, err
		}
		nb, dec := b.Breaker.Acquire(now, r.cfg.Circuit)
		switch dec {
		case circuit.Probe:
			b.Breaker = nb
			return &c, &b, nil
		case circuit.Allow: // closed meanwhile
			return &c, nil, nil
		}
		d.Reject(c.Backend, routing.ReasonProbeInFlight+" (taken by another job)")
	}
	return nil, nil, nil
}

// fail fails queued job j with code and msg, and records why.
func fail(tx *jobwrite.Tx, j *job.Job, backend, code, msg string, now time.Time) error {
	if err := j.Fail(code, msg, now); err != nil {
		return err
	}
	tx.AddEvent(store.Event{Type: "failed", Backend: backend, Message: code + ": " + msg})
	return nil
}

// dispatchTo adds j's next attempt on candidate c, whose estimate is
// reserved, and records it with why (the decision's ranking).
func dispatchTo(tx *jobwrite.Tx, j *job.Job, c *routing.Candidate, probe bool, why string, now time.Time) error {
	a := job.Attempt{
		Backend: c.Backend, Model: c.Model, EstimatedCost: c.Estimate, Reserved: c.Estimate,
		StartedAt: now, DurationSeconds: c.Seconds,
	}
	if c.Retry {
		if at := retryAt(j, c.Backend); at != nil && at.After(now) {
			a.NotBefore = at
		}
	}
	na, err := j.Dispatch(a, now)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("dispatched to %s (%s, %d s) for %s", na.Backend, na.Model, na.DurationSeconds, na.EstimatedCost)
	if probe {
		msg += "; half-open circuit probe"
	}
	if c.Retry {
		msg += "; retry of a backend that refused an earlier attempt (no other backend left)"
		if na.NotBefore != nil {
			msg += ", not before " + na.NotBefore.Format(time.RFC3339Nano)
		}
	}
	tx.Event("dispatched", na, msg+"; "+why)
	return nil
}

func (r *Router) publishDispatch(ctx context.Context, j *job.Job, a *job.Attempt, again bool) consumer.Outcome {
	msg := dispatch.Message{
		JobID: j.ID, ProjectID: j.ProjectID, Attempt: a.Number, Backend: a.Backend,
		Model: a.Model, Seconds: a.DurationSeconds, Estimate: a.EstimatedCost,
	}
	if _, err := dispatch.Publish(ctx, r.cfg.Queue, msg); err != nil {
		return consumer.Nack(err)
	}
	r.log.InfoContext(ctx, "dispatch published", "job_id", j.ID, "project_id", j.ProjectID,
		"backend", a.Backend, "model", a.Model, "attempt", a.Number, "estimate_usd", a.EstimatedCost.USD(), "republished", again)
	return consumer.Ack()
}

func (r *Router) publishLifecycle(ctx context.Context, j *job.Job) consumer.Outcome {
	if _, err := dispatch.PublishLifecycle(ctx, r.cfg.Queue, dispatch.LifecycleOf(j)); err != nil {
		return consumer.Nack(err)
	}
	return consumer.Ack()
}

// healthCache keeps the result of store.ListBackends for a short while. It
// uses the wall clock, not Config.Now, so that tests with a fixed clock still
// see fresh health.
type healthCache struct {
	ttl time.Duration
	// read, when set, is called with every health read from the store
	// (not with cached reuses): the router records the circuits' states.
	read func(ctx context.Context, v map[string]store.BackendState)

	mu  sync.Mutex
	at  time.Time
	val map[string]store.BackendState
}

func (h *healthCache) get(ctx context.Context, s store.Store) (map[string]store.BackendState, error) {
	h.mu.Lock()
	if h.val != nil && h.ttl > 0 && time.Since(h.at) < h.ttl {
		v := h.val
		h.mu.Unlock()
		return v, nil
	}
	h.mu.Unlock()
	list, err := s.ListBackends(ctx)
	if err != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.val != nil { // stale health beats no routing at all
			return h.val, nil
		}
		return nil, err
	}
	v := make(map[string]store.BackendState, len(list))
	for _, b := range list {
		v[b.Name] = b
	}
	h.mu.Lock()
	h.val, h.at = v, time.Now()
	h.mu.Unlock()
	if h.read != nil {
		h.read(ctx, v)
	}
	return v, nil
}

// invalidate makes the next get read the store (the stale value stays as
// a fallback should that read fail).
func (h *healthCache) invalidate() {
	h.mu.Lock()
	h.at = time.Time{}
	h.mu.Unlock()
}

// recordCircuits records every catalog backend's circuit state, as read
// from the store (a backend never written is closed).
func (r *Router) recordCircuits(ctx context.Context, health map[string]store.BackendState) {
	for _, name := range r.cfg.Catalog.Names() {
		r.cfg.Metrics.CircuitState(ctx, name, health[name].Breaker.Current())
	}
}

// refusedBy lists the backends whose latest attempt of j was refused
// without being taken on (job.Attempt.RetryAt): routing may retry them.
func refusedBy(j *job.Job) []string {
	var out []string
	for i := range j.Attempts {
		if b := j.Attempts[i].Backend; !slices.Contains(out, b) && retryAt(j, b) != nil {
			out = append(out, b)
		}
	}
	return out
}

// retryAt is the RetryAt of j's latest attempt on backend, if any.
func retryAt(j *job.Job, backend string) *time.Time {
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if j.Attempts[i].Backend == backend {
			return j.Attempts[i].RetryAt
		}
	}
	return nil
}
