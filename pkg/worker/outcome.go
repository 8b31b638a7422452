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
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

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
		return o
	case j.Status == job.StatusCanceled:
		t.log.InfoContext(ctx, "generation of a canceled job finished; recorded as canceled", "cost_usd", j.Cost.USD())
		return consumer.Ack()
	}
	t.log.InfoContext(ctx, "job succeeded", "cost_usd", j.Cost.USD(), "video_url", telemetry.SafeURL(j.Result.VideoURL))
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
// transaction. An attempt that ended meanwhile (change's errclass.Conflict)
// is left as it is and the message acked. On success the attempt's slot is
// freed (before anything is published) and ok is true; otherwise o says
// what to do with the message.
func (w *Worker) endAttempt(ctx context.Context, t *task, jobID, what string, change func(j *job.Job, a *job.Attempt) ([]store.Event, error)) (j *job.Job, o consumer.Outcome, ok bool) {
	j, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.Attempt(t.msg.Attempt)
		if a == nil {
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
		return nil, consumer.Ack(), false
	case err != nil:
		return nil, consumer.StoreError(what+" of job "+jobID, err), false
	}
	w.releaseSlot(ctx, t) // the attempt is over: free the slot before publishing anything
	return j, consumer.Outcome{}, true
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
		return o
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
	err := retry.Do(cctx, w.cfg.Retry, func(cctx context.Context) error {
		_, err := store.UpdateBackend(cctx, w.cfg.Store, name, w.cfg.Now(), func(b *store.BackendState) error {
			nb, write := fn(b.Breaker)
			if !write {
				return errUnchanged
			}
			b.Breaker = nb
			return nil
		})
		return err
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		w.log.ErrorContext(ctx, "record circuit state failed", "backend", name, "error", err)
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
