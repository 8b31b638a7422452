package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// resume enters the attempt's concurrency slot and resumes polling a
// stored handle.
func (w *Worker) resume(ctx context.Context, t *task, jobID string, h backend.Handle, started time.Time) consumer.Outcome {
	w.enterSlot(ctx, t)
	t.log.InfoContext(ctx, "resuming generation from stored handle", "handle", string(h))
	return w.poll(ctx, t, polling{jobID: jobID, h: h, started: started})
}

// polling is a generation to poll: its attempt has a handle (submitted,
// resumed or adopted).
type polling struct {
	jobID   string
	h       backend.Handle
	started time.Time     // the submit intent's time, for GenerationTimeout
	wait    time.Duration // before the next poll
}

// poll polls p until the generation ends, then records the outcome.
//
// It polls through the consumer: what it returns is a consumer.Resume,
// which the rules return as it is, and handle too, so that by the time
// the consumer waits for the first poll every call of the rules is off the
// stack. The goroutine that holds the message then waits between polls in
// the consumer, at the top of a shallow stack, and each poll, with what
// follows it (the job read, the provider call, the heartbeat, the outcome
// and settle), runs on a goroutine of its own. A message in hand thus
// costs a small parked stack, which the garbage collector shrinks and no
// poll grows again (docs/perf.md, BenchmarkWorkerMemory).
//
// After each poll that does not end the generation it reads the job
// (checkAttempt): a canceled job's generation is canceled at the provider
// (so a cancel is noticed within one poll interval), and an attempt
// someone else finished is left alone. The poll that ends it goes straight
// to the outcome transaction, which reads the job anyway and applies the
// same checks (endAttempt): only an attempt still holding h and not ended
// is changed, a canceled job's attempt is recorded as canceled, and an
// attempt ended by someone else is left as it is (its job's lifecycle
// event published again when the job ended). In push mode (t.lim) it ends
// with a later outcome once the step's polls or time are used up.
func (w *Worker) poll(ctx context.Context, t *task, p polling) consumer.Outcome {
	s := &pollState{polling: p, interval: w.pollInterval(t.be), beat: w.cfg.Now()}
	s.renew = s.beat
	o, ended := w.pollLater(t, s)
	if !ended { // else the rules return o to handle, which settles it
		w.cfg.Metrics.InFlight(ctx, t.name, 1)
	}
	return o
}

// pollState is a generation being polled: what it is (polling, whose wait
// is the one before the next poll), the consecutive failed polls, and the
// last heartbeat and slot renewal.
type pollState struct {
	polling
	interval    time.Duration
	errors      int
	beat, renew time.Time
}

// pollLater is the next poll, after s.wait, or the end of a push step
// that the wait would overrun (ended).
func (w *Worker) pollLater(t *task, s *pollState) (o consumer.Outcome, ended bool) {
	if s.wait > 0 && t.lim.spent(w.cfg.Now().Add(s.wait)) {
		return consumer.Later(fmt.Sprintf("step budget spent after %d polls", t.lim.polls)), true
	}
	return consumer.Resume(s.wait, func(ctx context.Context) consumer.Outcome { return w.pollStep(ctx, t, s) }), false
}

// pollStep is one poll and what follows it: the next poll (pollLater), or
// the message's outcome, settled, when the generation or the step ended.
func (w *Worker) pollStep(ctx context.Context, t *task, s *pollState) consumer.Outcome {
	ended := true
	defer func() {
		if ended { // the generation is no longer polled here (also after a panic)
			w.cfg.Metrics.InFlight(context.WithoutCancel(ctx), t.name, -1)
		}
	}()
	var o consumer.Outcome
	done := true
	if err := ctx.Err(); err != nil {
		o = consumer.Nack(fmt.Errorf("shutdown while polling job %s: %w", s.jobID, err))
	} else {
		o, done = w.pollOnce(ctx, t, s)
	}
	if !done {
		if o, ended = w.pollLater(t, s); !ended {
			return o
		}
	}
	return w.settle(ctx, t, o)
}

// pollOnce polls the generation once and judges the answer, then, unless
// the generation ended, reads the job: done, with the message's outcome,
// when polling is over; else s.wait is set for the next poll.
func (w *Worker) pollOnce(ctx context.Context, t *task, s *pollState) (o consumer.Outcome, done bool) {
	if o, done = w.pollJudged(ctx, t, s); done {
		return o, true
	}
	if o, done = w.checkAttempt(ctx, t, s.jobID, s.h); done {
		return o, true
	}
	w.keepAlive(ctx, t, s)
	switch {
	case w.cfg.Now().Sub(s.started) > w.cfg.GenerationTimeout:
		return w.timedOut(ctx, t, s.jobID, s.h), true
	case t.lim.pollsUsed():
		return consumer.Later(fmt.Sprintf("step poll limit of %d reached", t.lim.maxPolls)), true
	}
	return consumer.Outcome{}, false
}

// pollJudged polls the generation once: done, with the message's outcome,
// when it ended (or the attempt failed, or shutdown cut the poll); else
// s.wait is set for the next poll.
func (w *Worker) pollJudged(ctx context.Context, t *task, s *pollState) (o consumer.Outcome, done bool) {
	st, err := t.be.Poll(ctx, s.h)
	if ctx.Err() != nil {
		return consumer.Nack(fmt.Errorf("shutdown while polling job %s: %w", s.jobID, ctx.Err())), true
	}
	t.lim.polled()
	s.wait = s.interval
	switch {
	case err != nil:
		var f *failure
		if s.wait, f = w.pollFailed(ctx, t, s, err); f != nil {
			return w.fail(ctx, t, s.jobID, *f), true
		}
	case st.State.Terminal():
		return w.finish(ctx, t, s.jobID, st), true
	default:
		s.errors = 0
	}
	return consumer.Outcome{}, false
}

// checkAttempt reads the job after a poll that did not end the generation:
// stop is true, with what to do with the message, when the attempt no
// longer needs this poller (finished or given up by someone else, or its
// job canceled).
func (w *Worker) checkAttempt(ctx context.Context, t *task, jobID string, h backend.Handle) (o consumer.Outcome, stop bool) {
	j, err := w.getJob(ctx, jobID)
	switch {
	case ctx.Err() != nil:
		return consumer.Nack(fmt.Errorf("shutdown while polling job %s: %w", jobID, ctx.Err())), true
	case err != nil:
		return consumer.StoreError("reload job "+jobID, err), true
	}
	a := j.Attempt(t.msg.Attempt)
	switch {
	case a == nil || a.Handle != string(h) || a.Status == job.AttemptSucceeded || a.Status == job.AttemptCanceled:
		t.log.InfoContext(ctx, "attempt finished by another delivery; stop polling", "job_status", j.Status)
		if j.Status.Terminal() {
			// That delivery may have died before publishing the
			// lifecycle event; this message may be its last copy.
			return w.publishLifecycle(ctx, j), true
		}
		return consumer.Ack(), true
	case j.Status == job.StatusCanceled && !a.Status.Finished():
		return w.cancelGeneration(ctx, t, jobID, h), true
	case a.Status == job.AttemptFailed || j.Status.Terminal():
		// Failed or ended by someone else while the generation runs
		// here (the stuck-job sweeper's timeout, or a duplicate
		// delivery that saw it fail): nobody will record its result,
		// so stop it. Canceling a finished generation is harmless.
		t.log.WarnContext(ctx, "attempt given up while its generation runs; canceling it at the provider",
			"job_status", j.Status, "attempt_status", a.Status)
		if err := w.cancelAtProvider(ctx, t, h); err != nil {
			t.log.WarnContext(ctx, "cancel of abandoned generation failed", "error", err)
		}
		return consumer.Ack(), true
	}
	return consumer.Outcome{}, false
}

// pollFailed judges a failed poll: the attempt fails (f) when the provider
// refuses the handle or after PollErrorLimit consecutive errors; otherwise
// polling goes on after wait.
func (w *Worker) pollFailed(ctx context.Context, t *task, s *pollState, err error) (wait time.Duration, f *failure) {
	err = fmt.Errorf("poll job %s on %s: %w", s.jobID, t.name, err)
	c := classify(err)
	if !errclass.IsRetryable(err) {
		// The provider refuses this handle (not found, permanent): the
		// attempt is lost, not the request.
		if c.class != errclass.ContentSafety {
			c = failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: err.Error()}
		}
		return 0, &c
	}
	s.errors++
	if s.errors > w.cfg.PollErrorLimit {
		c.msg = fmt.Sprintf("%d consecutive poll errors, last: %v", s.errors, err)
		return 0, &c
	}
	backoff := retry.Policy{Initial: s.interval, Max: MaxPollBackoff, Rand: w.cfg.Retry.Rand}
	wait = max(s.interval, backoff.Delay(s.errors, err))
	t.log.WarnContext(ctx, "poll failed; retrying", "error", err, "consecutive_errors", s.errors, "wait", wait.String())
	return wait, nil
}

// timedOut cancels a generation that ran past GenerationTimeout and fails
// its attempt.
func (w *Worker) timedOut(ctx context.Context, t *task, jobID string, h backend.Handle) consumer.Outcome {
	if err := w.cancelAtProvider(ctx, t, h); err != nil {
		t.log.WarnContext(ctx, "cancel of timed-out generation failed", "error", err)
	}
	return w.fail(ctx, t, jobID, failure{class: errclass.Retryable, code: job.CodeTimeout,
		msg: fmt.Sprintf("no result within %s", w.cfg.GenerationTimeout)})
}

// keepAlive refreshes the attempt's heartbeat every Config.Heartbeat and
// renews the concurrency slot every third of its lease. Failures are
// logged: polling goes on.
func (w *Worker) keepAlive(ctx context.Context, t *task, s *pollState) {
	now := w.cfg.Now()
	if t.slot != nil && now.Sub(s.renew) >= w.cfg.SlotLease/3 {
		s.renew = now
		w.renewSlot(ctx, t)
	}
	if now.Sub(s.beat) < w.cfg.Heartbeat {
		return
	}
	s.beat = now
	_, err := w.updateJob(ctx, s.jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.Attempt(t.msg.Attempt)
		if j.Status.Terminal() || a == nil || a.Handle != string(s.h) || a.Status.Finished() {
			return nil, errUnchanged
		}
		a.LastProgressAt = &now
		j.UpdatedAt = now
		return nil, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, errMaybeCommitted) && ctx.Err() == nil {
		t.log.WarnContext(ctx, "heartbeat write failed", "error", err)
	}
}

// finish records a terminal provider status.
func (w *Worker) finish(ctx context.Context, t *task, jobID string, st backend.Status) consumer.Outcome {
	switch st.State {
	case backend.StateSucceeded:
		if w.cfg.Output != nil {
			if o, copied := w.copyOutput(ctx, t, jobID, &st); !copied {
				return o
			}
		}
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

// succeed records a succeeded generation: job, attempt, cost and event in
// one transaction (DESIGN invariant 3; job.SucceedAttempt). A job canceled
// meanwhile keeps its status; its attempt is recorded as canceled with the
// cost of the video the provider delivered (and bills) anyway.
func (w *Worker) succeed(ctx context.Context, t *task, jobID string, st backend.Status) consumer.Outcome {
	now := w.cfg.Now()
	j, o, ok := w.endAttempt(ctx, t, jobID, "record success", func(j *job.Job, a *job.Attempt) ([]store.Event, error) {
		secs := st.DurationSeconds
		if secs <= 0 {
			secs = cmpOr(a.DurationSeconds, t.msg.Seconds)
		}
		cost := w.price(ctx, t, j, a, secs)
		return j.SucceedAttempt(a.Number, cost, job.Result{VideoURL: st.VideoURL, DurationSeconds: secs}, now)
	})
	switch {
	case !ok:
		return w.ended(ctx, j, o)
	case j.Status == job.StatusCanceled:
		t.log.InfoContext(ctx, "generation of a canceled job finished; recorded as canceled", "cost_usd", j.Cost.USD())
		return consumer.Ack()
	}
	t.log.InfoContext(ctx, "job succeeded", "cost_usd", j.Cost.USD(), "video_url", telemetry.SafeURL(j.Result.VideoURL))
	if a := j.Attempt(t.msg.Attempt); a != nil && a.SubmittedAt != nil && a.EndedAt != nil {
		w.cfg.Metrics.Generation(ctx, t.name, a.Model, a.EndedAt.Sub(*a.SubmittedAt))
	}
	w.recordCircuit(ctx, t.name, func(b circuit.Breaker) (circuit.Breaker, bool) {
		if b.Current() == circuit.Closed && b.ConsecutiveFailures == 0 {
			return b, false // nothing to write: keep the backend document cold
		}
		return b.Success(), true
	})
	return w.publishLifecycle(ctx, j)
}

// endAttempt records how this delivery's attempt ended: change (a step of
// the job's state machine) runs on the stored job and its attempt in one
// transaction. An attempt that ended meanwhile (change's errclass.Conflict),
// or that no longer holds the handle this delivery polls (t.polling), is
// left as it is and the message acked. On success the attempt's slot is
// freed (before anything is published) and ok is true, with the job as
// written; otherwise o says what to do with the message, and j is the job
// as read when the attempt was left as it is (else nil).
func (w *Worker) endAttempt(ctx context.Context, t *task, jobID, what string, change func(j *job.Job, a *job.Attempt) ([]store.Event, error)) (j *job.Job, o consumer.Outcome, ok bool) {
	var seen *job.Job
	j, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		seen = j
		a := j.Attempt(t.msg.Attempt)
		if a == nil || (t.polling != "" && a.Handle != string(t.polling)) {
			return nil, errUnchanged
		}
		events, err := change(j, a)
		if errors.Is(err, errclass.Conflict) && !errors.Is(err, errRaced) {
			return nil, errUnchanged // the state machine refused: ended meanwhile
		}
		return events, err
	})
	switch {
	case errors.Is(err, errUnchanged):
		return seen, consumer.Ack(), false
	case err != nil:
		return nil, consumer.StoreError(what+" of job "+jobID, err), false
	}
	w.releaseSlot(ctx, t) // the attempt is over: free the slot before publishing anything
	return j, consumer.Outcome{}, true
}

// ended is what becomes of a message whose outcome endAttempt did not
// record (o): when the attempt was left as it is (j, as read) and its job
// ended, the lifecycle event is published again, since the delivery that
// ended it may have died before publishing and this message may be the
// last copy (as checkAttempt does for an attempt it finds ended).
func (w *Worker) ended(ctx context.Context, j *job.Job, o consumer.Outcome) consumer.Outcome {
	if j != nil && j.Status.Terminal() {
		return w.publishLifecycle(ctx, j)
	}
	return o
}

// failure is a classified attempt failure.
type failure struct {
	class    error // errclass.ContentSafety, Permanent or Retryable
	code     string
	msg      string
	billed   bool
	noStrike bool // retryable but not the backend's fault
	// guard, when set, must hold on the stored attempt for the failure to
	// be recorded (e.g. "still submitting under my intent").
	guard func(*job.Attempt) bool
	// retryAt, set for a submit the provider refused without taking it
	// on, is recorded as the attempt's RetryAt.
	retryAt *time.Time
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

// fail records a failed attempt and what follows for the job (see doc;
// job.FailAttempt). A job canceled meanwhile keeps its status; its attempt
// is recorded as canceled (with the billed cost, if any), without a strike
// or failover.
func (w *Worker) fail(ctx context.Context, t *task, jobID string, f failure) consumer.Outcome {
	now := w.cfg.Now()
	j, o, ok := w.endAttempt(ctx, t, jobID, "record failure", func(j *job.Job, a *job.Attempt) ([]store.Event, error) {
		if f.guard != nil && !f.guard(a) {
			return nil, errUnchanged
		}
		var cost money.Micros
		if f.billed {
			cost = w.price(ctx, t, j, a, cmpOr(a.DurationSeconds, t.msg.Seconds))
		}
		return j.FailAttempt(a.Number, job.Failure{Code: f.code, Message: f.msg, Final: f.class != errclass.Retryable,
			Cost: cost, RetryAt: f.retryAt}, w.cfg.MaxAttempts, now)
	})
	switch {
	case !ok:
		return w.ended(ctx, j, o)
	case j.Status == job.StatusCanceled:
		t.log.InfoContext(ctx, "attempt of a canceled job ended; recorded as canceled", "code", f.code, "error", f.msg)
		return consumer.Ack()
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

// recordCircuit applies fn to the backend's stored breaker, retrying
// transient store errors (Config.Retry), even through shutdown for up to
// DrainTimeout. A write still failing after that is logged, not returned:
// the job's state is already committed, and the breaker is a health hint.
func (w *Worker) recordCircuit(ctx context.Context, name string, fn func(circuit.Breaker) (circuit.Breaker, bool)) {
	cctx, cancel := w.drainCtx(ctx, w.cfg.DrainTimeout)
	defer cancel()
	var before circuit.Breaker
	err := retry.Do(cctx, w.cfg.Retry, func(cctx context.Context) error {
		st, err := store.UpdateBackend(cctx, w.cfg.Store, name, w.cfg.Now(), func(b *store.BackendState) error {
			nb, write := fn(b.Breaker)
			if !write {
				return errUnchanged
			}
			before, b.Breaker = b.Breaker, nb
			return nil
		})
		if err == nil {
			w.cfg.Metrics.CircuitState(ctx, name, st.Breaker.Current())
			w.announceCircuit(cctx, name, before, st)
		}
		return err
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		w.log.ErrorContext(ctx, "record circuit state failed", "backend", name, "error", err)
	}
}

// announceCircuit publishes a backend_circuit event to aiprod-events when
// the committed change opened or closed the circuit (the notifier alerts
// operators). Only the writer that made the change sees the transition,
// so it is announced once; a failed publish is logged, not retried.
func (w *Worker) announceCircuit(ctx context.Context, name string, before circuit.Breaker, st store.BackendState) {
	ev, ok := circuit.Transition(name, before, st.Breaker, st.UpdatedAt)
	if !ok {
		return
	}
	w.log.WarnContext(ctx, "circuit "+string(ev.State), "backend", name, "consecutive_failures", ev.ConsecutiveFailures)
	if err := queue.PublishEvent(ctx, telemetry.Traced(w.cfg.Queue), circuit.EventTypeCircuit, "", ev); err != nil {
		w.log.WarnContext(ctx, "publish circuit event failed", "backend", name, "error", err)
	}
}

func (w *Worker) publishReroute(ctx context.Context, j *job.Job) consumer.Outcome {
	next := len(j.Attempts) + 1
	if _, err := dispatch.PublishReroute(ctx, w.cfg.Queue, j.ID, j.ProjectID, next); err != nil {
		return consumer.Nack(err)
	}
	return consumer.Ack()
}

func (w *Worker) publishLifecycle(ctx context.Context, j *job.Job) consumer.Outcome {
	if _, err := dispatch.PublishLifecycle(ctx, w.cfg.Queue, dispatch.LifecycleOf(j)); err != nil {
		return consumer.Nack(err)
	}
	return consumer.Ack()
}

// copyOutput copies a succeeded generation's video to the output bucket
// (Config.Output) and points st at the copy, before the success transaction
// records it: provider URLs expire. The copy is idempotent per job attempt,
// so a redelivery that polls the handle again copies again harmlessly.
// copied=false means the caller must return the outcome given: a nack for
// a transient failure, or a failover when the video cannot be had.
func (w *Worker) copyOutput(ctx context.Context, t *task, jobID string, st *backend.Status) (consumer.Outcome, bool) {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CopyTimeout)
	defer cancel()
	u, err := w.cfg.Output.Copy(cctx, jobID, t.msg.Attempt, st.VideoURL)
	switch {
	case err == nil:
		st.VideoURL = u
		return consumer.Outcome{}, true
	case errors.Is(err, errclass.Permanent):
		// Expired, gone or too large: the attempt is billed but its video is
		// lost. Neither the user's nor the backend's fault: fail over, no strike.
		return w.fail(ctx, t, jobID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable,
			msg: "copy to the output bucket: " + err.Error(), billed: true, noStrike: true}), false
	default:
		return consumer.Nack(fmt.Errorf("copy output of job %s attempt %d: %w", jobID, t.msg.Attempt, err)), false
	}
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
