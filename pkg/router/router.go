package router

import (
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
	// Stats, optional, returns measured backend performance to break ties
	// between equal estimates.
	Stats func(ctx context.Context) map[string]routing.BackendStats
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
	if c.HealthCacheTTL == 0 {
		c.HealthCacheTTL = HealthCacheTTLDefault
	}
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
	consumer *consumer.Consumer
}

// New returns a Router for cfg (defaults applied, then validated).
func New(cfg Config) (*Router, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, log: cfg.Logger.With("service", "router"), health: healthCache{ttl: cfg.HealthCacheTTL}}
	c, err := consumer.New(consumer.Config{
		Subscription: queue.SubscriptionRouter, DeadLetterTopic: queue.DeadLetterTopic(queue.TopicJobs),
		Publisher: cfg.Queue, Logger: r.log, Receive: cfg.ReceiveOptions,
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
	var j *job.Job
	if id := m.Attr(queue.AttrJobID); id == "" {
		var o consumer.Outcome
		if j, o = r.createFromRequest(ctx, m); j == nil {
			return o
		}
	} else {
		if !job.ValidID(id) {
			return consumer.DeadLetter("attribute job_id %q is not a job id", id)
		}
		j, err = r.cfg.Store.GetJob(ctx, id)
		switch {
		case errors.Is(err, errclass.NotFound):
			return consumer.DeadLetter("job %s not found", id)
		case err != nil:
			return consumer.StoreError("load job "+id, err)
		}
		if p := m.Attr(queue.AttrProjectID); p != "" && p != j.ProjectID {
			return consumer.DeadLetter("attribute project_id %q is not the project of job %s", p, id)
		}
	}

	switch {
	case j.Status.Terminal():
		// The delivery that ended the job may have died before publishing,
		// and this may be the last copy of its message: publish again.
		return r.publishLifecycle(ctx, j)
	case j.Status == job.StatusRunning:
		return consumer.Ack()
	case j.Status == job.StatusDispatched:
		cur := j.CurrentAttempt()
		if cur == nil || (hasAttempt && attempt != cur.Number) {
			return consumer.Ack() // stale: the job has moved on
		}
		return r.publishDispatch(ctx, j, cur, true)
	default: // queued
		return r.route(ctx, j.ID)
	}
}

// createFromRequest creates (if absent) the job of a request published
// straight to aiprod-jobs. It returns nil and the outcome when the message
// is rejected or the store failed.
func (r *Router) createFromRequest(ctx context.Context, m *queue.Message) (*job.Job, consumer.Outcome) {
	project := m.Attr(queue.AttrProjectID)
	if project == "" {
		return nil, consumer.DeadLetter("attribute project_id is required on a job request without job_id")
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
	now := r.cfg.Now()
	fresh := job.New(id, project, req, now)
	fresh.TraceID = telemetry.TraceID(ctx)
	fresh.IdempotencyKey = key

	var stored *job.Job
	err = r.cfg.Store.RunTx(ctx, func(tx store.Tx) error {
		stored = nil
		existing, err := tx.GetJob(id)
		switch {
		case err == nil:
			stored = existing
			return nil
		case !errors.Is(err, errclass.NotFound):
			return err
		}
		c := fresh.Clone()
		store.NormalizeTimes(c)
		if err := tx.CreateJob(c); err != nil {
			return err
		}
		if err := tx.AddEvent(id, r.event(ctx, now, "created", "", 0, "job request received on "+queue.TopicJobs)); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return nil, consumer.StoreError("create job "+id, err)
	}
	return stored, consumer.Outcome{}
}

// route dispatches a queued job, or fails it; see the package doc.
func (r *Router) route(ctx context.Context, id string) consumer.Outcome {
	health, err := r.health.get(ctx, r.cfg.Store)
	if err != nil {
		return consumer.Nack(fmt.Errorf("read backend health: %w", err))
	}
	var stats map[string]routing.BackendStats
	if r.cfg.Stats != nil {
		stats = r.cfg.Stats(ctx)
	}
	now := r.cfg.Now()

	var (
		out        *job.Job
		tookProbe  bool
		dispatched *job.Attempt
		crossings  []budget.Crossing
	)
	err = r.cfg.Store.RunTx(ctx, func(tx store.Tx) error {
		out, tookProbe, dispatched, crossings = nil, false, nil, nil
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		if j.Status != job.StatusQueued {
			return nil // another delivery routed it meanwhile
		}
		// The budget side (invariant 4): what the job holds from a previous
		// attempt, released when it fails here or moved to the new estimate.
		bk, err := budget.Prepare(tx, j)
		if err != nil {
			return err
		}
		var events []store.Event
		var probe *store.BackendState
		if n := len(j.Attempts); n >= r.cfg.MaxAttempts {
			msg := fmt.Sprintf("all %d attempts failed: %s", n, dispatch.AttemptsSummary(j.Attempts))
			if err := j.Fail(job.CodeBackendFailed, msg, now); err != nil {
				return err
			}
			events = append(events, r.event(ctx, now, "failed", "", 0, job.CodeBackendFailed+": "+msg))
		} else {
			d := routing.Decide(routing.Input{
				Request: j.Request, Catalog: r.cfg.Catalog, Health: health, Excluded: j.ExcludedBackends,
				Retryable: refusedBy(j), Now: now, Circuit: r.cfg.Circuit, Stats: stats,
			})
			var chosen *routing.Candidate
			for len(d.Candidates) > 0 && chosen == nil {
				c := d.Candidates[0]
				if !c.Probe {
					chosen = &c
					break
				}
				b, err := tx.GetBackend(c.Backend)
				if err != nil {
					return err
				}
				nb, dec := b.Breaker.Acquire(now, r.cfg.Circuit)
				switch dec {
				case circuit.Probe:
					b.Breaker = nb
					probe = &b
					chosen = &c
				case circuit.Allow: // closed meanwhile
					chosen = &c
				default:
					d.Reject(c.Backend, routing.ReasonProbeInFlight+" (taken by another job)")
				}
			}
			var refused error // the budget's refusal of the chosen candidate
			if chosen != nil {
				err := bk.Reserve(tx, j, chosen.Estimate, now)
				switch {
				case errors.Is(err, errclass.Budget):
					refused = err
				case err != nil:
					return err
				}
			}
			switch {
			case refused != nil:
				if err := j.Fail(job.CodeBudgetExceeded, refused.Error(), now); err != nil {
					return err
				}
				events = append(events, r.event(ctx, now, "failed", chosen.Backend, 0, job.CodeBudgetExceeded+": "+refused.Error()))
				probe = nil // the probe taken for the candidate is not written: the circuit stays as it was
			case chosen == nil:
				msg := d.Explain()
				if len(j.Attempts) > 0 {
					msg += "; after " + dispatch.AttemptsSummary(j.Attempts)
				}
				if err := j.Fail(job.CodeNoBackend, msg, now); err != nil {
					return err
				}
				events = append(events, r.event(ctx, now, "failed", "", 0, job.CodeNoBackend+": "+msg))
			default:
				a := job.Attempt{
					Number: len(j.Attempts) + 1, Backend: chosen.Backend, Model: chosen.Model,
					Status: job.AttemptDispatched, EstimatedCost: chosen.Estimate, Reserved: chosen.Estimate,
					StartedAt: now, DurationSeconds: chosen.Seconds,
				}
				if chosen.Retry {
					if at := retryAt(j, chosen.Backend); at != nil && at.After(now) {
						a.NotBefore = at
					}
				}
				j.Attempts = append(j.Attempts, a)
				j.Backend = chosen.Backend
				j.EstimatedCost = chosen.Estimate
				if err := j.Transition(job.StatusDispatched, now); err != nil {
					return err
				}
				msg := fmt.Sprintf("dispatched to %s (%s, %d s) for %s", a.Backend, a.Model, a.DurationSeconds, a.EstimatedCost)
				if probe != nil {
					msg += "; half-open circuit probe"
				}
				if chosen.Retry {
					msg += "; retry of a backend that refused an earlier attempt (no other backend left)"
					if a.NotBefore != nil {
						msg += ", not before " + a.NotBefore.Format(time.RFC3339Nano)
					}
				}
				events = append(events, r.event(ctx, now, "dispatched", a.Backend, a.Number, msg))
				dispatched = &j.Attempts[len(j.Attempts)-1]
			}
		}
		// Reads are over: from here on, only writes.
		if crossings, err = bk.Apply(tx, j, now); err != nil {
			return err
		}
		store.NormalizeTimes(j)
		if err := tx.PutJob(j); err != nil {
			return err
		}
		if probe != nil {
			probe.UpdatedAt = store.NormalizeTime(now)
			probe.Breaker.OpenedAt = store.NormalizeTime(probe.Breaker.OpenedAt)
			probe.Breaker.ProbeStartedAt = store.NormalizeTime(probe.Breaker.ProbeStartedAt)
			if err := tx.PutBackend(*probe); err != nil {
				return err
			}
		}
		for _, e := range events {
			if err := tx.AddEvent(j.ID, e); err != nil {
				return err
			}
		}
		out, tookProbe = j, probe != nil
		return nil
	})
	if err != nil {
		return consumer.StoreError("route job "+id, err)
	}
	if tookProbe {
		r.health.invalidate()
	}
	if err := budget.PublishThresholds(ctx, r.cfg.Queue, crossings); err != nil {
		// At most once by design (see budget.PublishThresholds): log only.
		r.log.ErrorContext(ctx, "publish budget threshold events", "job_id", id, "error", err)
	}
	switch {
	case out == nil:
		return consumer.Ack()
	case dispatched != nil:
		return r.publishDispatch(ctx, out, dispatched, false)
	default:
		r.log.InfoContext(ctx, "job failed", "job_id", out.ID, "project_id", out.ProjectID,
			"code", out.Error.Code, "error", out.Error.Message)
		return r.publishLifecycle(ctx, out)
	}
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

func (r *Router) event(ctx context.Context, at time.Time, typ, backend string, attempt int, msg string) store.Event {
	return store.Event{
		At: store.NormalizeTime(at), Stage: Stage, Type: typ, Backend: backend, Attempt: attempt, Message: msg,
		TraceID: telemetry.TraceID(ctx), SpanID: telemetry.SpanID(ctx),
	}
}

// healthCache keeps the result of store.ListBackends for a short while. It
// uses the wall clock, not Config.Now, so that tests with a fixed clock still
// see fresh health.
type healthCache struct {
	ttl time.Duration

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
	return v, nil
}

// invalidate makes the next get read the store (the stale value stays as
// a fallback should that read fail).
func (h *healthCache) invalidate() {
	h.mu.Lock()
	h.at = time.Time{}
	h.mu.Unlock()
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
