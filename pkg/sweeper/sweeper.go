package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Defaults of Config.
const (
	IntervalDefault = time.Minute
	BatchDefault    = store.MaxPageSize
)

// Timeline entries written by the sweeper. It runs in the router service,
// so its events are the router's stage.
const (
	Stage             = "router"
	EventTypeRedriven = "redriven"
	EventTypeFailed   = "failed"
)

// Config configures a Sweeper. Store and Queue are required.
type Config struct {
	// Policy says when a job is stuck; its zero value is the defaults.
	Policy
	Store store.Store     // required: ListStale and transactions
	Queue queue.Publisher // required: re-drives and lifecycle events
	// Catalog gives each backend's concurrency: dispatched jobs are swept
	// per catalog backend, and a backend with slots extends its jobs'
	// horizon while it has a backlog (Backlog). Nil: dispatched jobs are
	// swept together with DispatchedAfter alone.
	Catalog *catalog.Catalog
	// Interval is the time between two sweeps. 0: IntervalDefault. Each
	// wait is jittered by ±10% so that the sweepers of several routers
	// drift apart.
	Interval time.Duration
	// Batch is how many jobs of each status one sweep looks at, the least
	// recently updated first. 0: BatchDefault; at most store.MaxPageSize.
	Batch  int
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// After is Run's timer: a channel that receives once d has passed on
	// the clock of Now. Nil: time.After.
	After func(d time.Duration) <-chan time.Time
	// Metrics records the jobs it fails and their budgets. Nil:
	// metrics.Default().
	Metrics *metrics.Recorder
	// BudgetDefaults apply to projects whose budget leaves them unset, for
	// the thresholds and gauges of what the sweeper settles. Zero: none.
	BudgetDefaults budget.Defaults
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Policy = c.Policy.WithDefaults()
	if c.Interval == 0 {
		c.Interval = IntervalDefault
	}
	if c.Batch == 0 {
		c.Batch = BatchDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	return c
}

// Validate checks a Config after WithDefaults; messages name the field.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("sweeper: Config.Store is required"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("sweeper: Config.Queue is required"))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("sweeper: Config.Interval must be positive, got %s", c.Interval))
	}
	if c.Batch < 1 || c.Batch > store.MaxPageSize {
		errs = append(errs, fmt.Errorf("sweeper: Config.Batch must be 1..%d, got %d", store.MaxPageSize, c.Batch))
	}
	errs = append(errs, c.Policy.Validate())
	return errors.Join(errs...)
}

// Sweeper finds stuck jobs and re-drives or fails them; see the package
// doc. It is safe for concurrent use, and any number of Sweepers may run
// against the same store and queue.
type Sweeper struct {
	cfg  Config
	log  *slog.Logger
	jobs *jobwrite.Writer
}

// New returns a Sweeper for cfg (defaults applied, then validated).
func New(cfg Config) (*Sweeper, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "sweeper")
	jobs := jobwrite.New(jobwrite.Config{Store: cfg.Store, Publisher: cfg.Queue, Stage: Stage, Now: cfg.Now, Logger: log,
		Metrics: cfg.Metrics, BudgetDefaults: cfg.BudgetDefaults})
	return &Sweeper{cfg: cfg, log: log, jobs: jobs}, nil
}

// Result counts what one sweep did.
type Result struct {
	Examined int // stale candidates read from the store
	Redriven int
	Failed   int
	Errors   int // jobs whose re-drive or failure did not complete
	// Busy is the horizon extension (Backlog.Extension) of each backend
	// that had a backlog; nil when none had.
	Busy map[string]time.Duration
}

// Run sweeps every Interval (jittered) until ctx is done, then returns nil.
// A sweep that fails is logged; the next one tries again. The first sweep
// comes one interval after the start.
func (s *Sweeper) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.After(retry.Jittered(s.cfg.Interval)):
		}
		res, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.ErrorContext(ctx, "sweep failed", "error", err, "examined", res.Examined,
				"redriven", res.Redriven, "failed", res.Failed, "errors", res.Errors)
		case res.Redriven > 0 || res.Failed > 0:
			s.log.InfoContext(ctx, "sweep done", "examined", res.Examined, "redriven", res.Redriven, "failed", res.Failed,
				"busy_backends", busyAttr(res.Busy))
		default:
			s.log.DebugContext(ctx, "sweep done", "examined", res.Examined, "busy_backends", busyAttr(res.Busy))
		}
	}
}

// busyAttr renders Result.Busy for a log: "fal:40m0s,luma:2m0s".
func busyAttr(busy map[string]time.Duration) string {
	names := slices.Sorted(maps.Keys(busy))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + busy[n].String()
	}
	return strings.Join(parts, ",")
}

// Sweep runs one sweep: for each of queued, dispatched and running, it
// reads up to Batch jobs not updated within that status's horizon (for
// dispatched jobs, per catalog backend, the horizon extended by the
// backend's Backlog), and applies Decide to each. It returns what it did
// and the errors it met (store reads, transactions, publishes), joined;
// one job's error does not stop the others.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	var (
		res  Result
		errs []error
	)
	now := s.cfg.Now()
	seen := map[string]bool{}
	for _, q := range s.queries(ctx, now, &res, &errs) {
		jobs, err := s.cfg.Store.ListStale(ctx, q.StaleQuery)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweeper: list stale %s jobs%s: %w", q.Status, q.on(), err))
			continue
		}
		res.Examined += len(jobs)
		for _, j := range jobs {
			if ctx.Err() != nil {
				return res, errors.Join(append(errs, ctx.Err())...)
			}
			bl := q.backlogOf(j)
			if seen[j.ID] || Decide(j, now, s.cfg.Policy, bl).Kind == Leave {
				continue
			}
			seen[j.ID] = true
			kind, err := s.apply(ctx, j.ID, bl)
			switch {
			case err != nil:
				res.Errors++
				errs = append(errs, err)
			case kind == Redrive:
				res.Redriven++
			case kind == Fail:
				res.Failed++
			}
		}
	}
	return res, errors.Join(errs...)
}

// query is one ListStale of a sweep, with the backlogs its jobs are judged
// by.
type query struct {
	store.StaleQuery
	backlogs map[string]Backlog // by backend; absent: the zero Backlog
}

// on names the query's backend for an error: "" or " on fal".
func (q query) on() string {
	if q.Backend == "" {
		return ""
	}
	return " on " + q.Backend
}

// backlogOf returns the Backlog that dispatched job j is judged by.
func (q query) backlogOf(j *job.Job) Backlog {
	if j.Status != job.StatusDispatched {
		return Backlog{}
	}
	return q.backlogs[j.Backend]
}

// queries returns the ListStale queries of a sweep at now: queued and
// running jobs past their horizon; dispatched jobs of each catalog backend
// past DispatchedAfter plus the backend's backlog extension (a backend
// whose slots cannot be read is skipped this sweep: its error is added to
// errs), so that one backend's backlog neither fills the others' page nor
// costs a read per waiting job; and, so that no dispatched job is left
// unexamined (a backend gone from the catalog), every dispatched job past
// HardTimeout since its last update (past DispatchedAfter when there is no
// hard timeout). Without a Catalog, dispatched jobs are one query past
// DispatchedAfter. Busy backends are recorded in res.
func (s *Sweeper) queries(ctx context.Context, now time.Time, res *Result, errs *[]error) []query {
	stale := func(st job.Status, horizon time.Duration) store.StaleQuery {
		return store.StaleQuery{Status: st, UpdatedBefore: now.Add(-horizon), Limit: s.cfg.Batch}
	}
	qs := []query{{StaleQuery: stale(job.StatusQueued, s.cfg.QueuedAfter)}}
	if s.cfg.Catalog == nil {
		qs = append(qs, query{StaleQuery: stale(job.StatusDispatched, s.cfg.DispatchedAfter)})
		return append(qs, query{StaleQuery: stale(job.StatusRunning, s.cfg.RunningAfter)})
	}
	backlogs := map[string]Backlog{}
	for _, name := range s.cfg.Catalog.Names() {
		bl, err := s.backlog(ctx, name, now)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		if ext := bl.Extension(); ext > 0 {
			if res.Busy == nil {
				res.Busy = map[string]time.Duration{}
			}
			res.Busy[name] = ext
		}
		backlogs[name] = bl
		q := query{StaleQuery: stale(job.StatusDispatched, s.cfg.DispatchedAfter+bl.Extension()), backlogs: backlogs}
		q.Backend = name
		qs = append(qs, q)
	}
	rest := s.cfg.HardTimeout
	if rest <= 0 {
		rest = s.cfg.DispatchedAfter
	}
	qs = append(qs, query{StaleQuery: stale(job.StatusDispatched, rest), backlogs: backlogs})
	return append(qs, query{StaleQuery: stale(job.StatusRunning, s.cfg.RunningAfter)})
}

// backlog reads backend name's slots and waiting marks and judges its
// Backlog at now (one batch read of concurrency+1 documents); the zero
// Backlog for a backend without a concurrency cap.
func (s *Sweeper) backlog(ctx context.Context, name string, now time.Time) (Backlog, error) {
	b := s.cfg.Catalog.Backend(name)
	if b == nil || b.Concurrency <= 0 {
		return Backlog{}, nil
	}
	slots, waiters, err := store.ReadSlots(ctx, s.cfg.Store, name, b.Concurrency)
	if err != nil {
		return Backlog{}, fmt.Errorf("sweeper: dispatched jobs on %s left for the next sweep: %w", name, err)
	}
	return BacklogOf(slots, waiters, now), nil
}

// apply decides about job id again (bl being the Backlog of a dispatched
// job's backend, as the sweep saw it), on the job as read in a
// transaction, and carries the decision out: a re-drive is recorded (Redrives,
// RedrivenAt, updated_at and a "redriven" event) and then published; a
// failure moves the job to failed with code timeout (its current attempt
// too, the budget released) and then publishes its lifecycle event. The
// transaction is the guard that makes concurrent sweepers harmless: the
// first one's write changes what Decide sees, so the others leave the job.
// It returns what it did (Leave when the job no longer needed anything).
func (s *Sweeper) apply(ctx context.Context, id string, bl Backlog) (Kind, error) {
	j, err := s.cfg.Store.GetJob(ctx, id)
	if err != nil {
		if errors.Is(err, errclass.NotFound) {
			return Leave, nil
		}
		return Leave, fmt.Errorf("sweeper: read job %s: %w", id, err)
	}
	ctx, span := s.startSpan(ctx, j)
	defer span.End()

	var act Action
	res, err := s.jobs.Update(ctx, id, func(tx *jobwrite.Tx, cur *job.Job) error {
		act = Decide(cur, tx.Now(), s.cfg.Policy, bl)
		switch act.Kind {
		case Redrive:
			s.recordRedrive(tx, cur, act)
			return nil
		case Fail:
			return s.recordFailure(tx, cur, act)
		}
		return jobwrite.ErrNoChange
	})
	if errors.Is(err, errclass.NotFound) {
		return Leave, nil
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "sweep transaction failed")
		return Leave, fmt.Errorf("sweeper: %s job %s: %w", act.Kind, id, err)
	}
	out := res.Job
	log := s.log.With("job_id", id, "project_id", j.ProjectID)
	switch act.Kind {
	case Redrive:
		what, err := s.publishRedrive(ctx, out)
		if err != nil {
			// The re-drive is recorded but not sent: the next one comes
			// after the doubled horizon, or the job fails with timeout.
			span.RecordError(err)
			span.SetStatus(codes.Error, "re-drive publish failed")
			log.ErrorContext(ctx, "re-drive recorded but not published", "status", out.Status, "error", err)
			return Redrive, fmt.Errorf("sweeper: re-drive job %s: %w", id, err)
		}
		log.WarnContext(ctx, "stuck job re-driven", "status", out.Status, "reason", act.Reason,
			"redrives", out.Redrives, "published", what)
	case Fail:
		log.WarnContext(ctx, "stuck job failed with timeout", "reason", act.Reason)
		err := retry.Do(ctx, retry.Policy{}, func(ctx context.Context) error {
			_, err := dispatch.PublishLifecycle(ctx, s.cfg.Queue, dispatch.LifecycleOf(out))
			return err
		})
		if err != nil {
			span.RecordError(err)
			log.ErrorContext(ctx, "publish lifecycle event of timed-out job", "error", err)
			return Fail, fmt.Errorf("sweeper: job %s failed with timeout, but its lifecycle event was not published: %w", id, err)
		}
	}
	return act.Kind, nil
}

// recordRedrive records a re-drive of cur: one more re-drive in a row,
// RedrivenAt and updated_at set to the transaction's time (equal, so
// RedrivesInARow sees no progress since), and a timeline event.
func (s *Sweeper) recordRedrive(tx *jobwrite.Tx, cur *job.Job, act Action) {
	at := store.NormalizeTime(tx.Now())
	cur.Redrives = act.Redrives + 1
	cur.RedrivenAt = &at
	cur.UpdatedAt = at
	msg := fmt.Sprintf("stuck: %s; re-drive %d of %d: %s", act.Reason, cur.Redrives, s.cfg.MaxRedrives, redriveTarget(cur))
	tx.Event(EventTypeRedriven, cur.CurrentAttempt(), msg)
}

// recordFailure fails cur with code timeout: its current attempt, when
// unfinished, fails too (the job-write path then settles the budget).
func (s *Sweeper) recordFailure(tx *jobwrite.Tx, cur *job.Job, act Action) error {
	now := tx.Now()
	msg := "stuck: " + act.Reason
	if a := cur.CurrentAttempt(); a != nil && !a.Status.Finished() {
		end := now
		a.Status = job.AttemptFailed
		a.Error = &job.ErrorInfo{Code: job.CodeTimeout, Message: msg}
		a.EndedAt = &end
	}
	if err := cur.Fail(job.CodeTimeout, msg, now); err != nil {
		return err
	}
	tx.Event(EventTypeFailed, cur.CurrentAttempt(), job.CodeTimeout+": "+msg)
	return nil
}

// redriveTarget says what a re-drive of j publishes.
func redriveTarget(j *job.Job) string {
	if a := j.CurrentAttempt(); a != nil && j.Status != job.StatusQueued {
		return fmt.Sprintf("dispatch of attempt %d to %s", a.Number, queue.DispatchTopic(a.Backend))
	}
	return "job to " + queue.TopicJobs
}

// publishRedrive publishes the message that moves j on: for a queued job
// (or one without an attempt) a routing request to aiprod-jobs, which the
// router handles like a worker's reroute; for a dispatched or running job
// the dispatch of its current attempt, so that a worker takes it or resumes
// it from the stored handle. Both consumers are idempotent.
func (s *Sweeper) publishRedrive(ctx context.Context, j *job.Job) (string, error) {
	a := j.CurrentAttempt()
	if j.Status == job.StatusQueued || a == nil {
		_, err := dispatch.PublishReroute(ctx, s.cfg.Queue, j.ID, j.ProjectID, len(j.Attempts)+1)
		return redriveTarget(j), err
	}
	_, err := dispatch.Publish(ctx, s.cfg.Queue, dispatch.Message{
		JobID: j.ID, ProjectID: j.ProjectID, Attempt: a.Number, Backend: a.Backend,
		Model: a.Model, Seconds: a.DurationSeconds, Estimate: a.EstimatedCost,
	})
	return redriveTarget(j), err
}

// startSpan starts the span of one job's sweep in the job's trace
// (invariant 7), parented on the job's first recorded span and linked to
// ctx's span; without a usable trace id it is a new root.
func (s *Sweeper) startSpan(ctx context.Context, j *job.Job) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithAttributes(
		telemetry.AttrJobID.String(j.ID), telemetry.AttrProjectID.String(j.ProjectID))}
	if l := trace.LinkFromContext(ctx); l.SpanContext.IsValid() {
		opts = append(opts, trace.WithLinks(l))
	}
	parent := ctx
	if tid, err := trace.TraceIDFromHex(j.TraceID); err == nil {
		if events, err := s.cfg.Store.ListEvents(ctx, j.ID); err == nil {
			for _, e := range events {
				sid, err := trace.SpanIDFromHex(e.SpanID)
				if e.TraceID == j.TraceID && err == nil {
					parent = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
						TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
					}))
					break
				}
			}
		}
	}
	if parent == ctx {
		opts = append(opts, trace.WithNewRoot())
	}
	return telemetry.Tracer().Start(parent, "sweep job "+j.ID, opts...)
}
