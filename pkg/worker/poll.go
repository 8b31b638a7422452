package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// resume enters the attempt's concurrency slot and resumes polling a
// stored handle.
func (w *Worker) resume(ctx context.Context, t *task, jobID string, h backend.Handle, started time.Time) consumer.Outcome {
	w.enterSlot(ctx, t)
	t.log.InfoContext(ctx, "resuming generation from stored handle", "handle", string(h))
	return w.poll(ctx, t, jobID, h, started, 0)
}

// poll polls h until the generation ends, then records the outcome. started
// is the submit intent's time, for GenerationTimeout; wait is how long to
// wait before the first poll.
//
// Before each poll it reads the job: a canceled job's generation is
// canceled at the provider (so a cancel is noticed within one poll
// interval), and an attempt someone else finished is left alone. In push
// mode (t.lim) it returns a later outcome once the step's polls or time
// are used up.
func (w *Worker) poll(ctx context.Context, t *task, jobID string, h backend.Handle, started time.Time, wait time.Duration) consumer.Outcome {
	interval := w.pollInterval(t.be)
	pe := pollErrors{backoff: retry.Policy{Initial: interval, Max: MaxPollBackoff, Rand: w.cfg.Retry.Rand}}
	ka := keepAlive{beat: w.cfg.Now(), renew: w.cfg.Now()}
	for {
		if wait > 0 {
			if t.lim.spent(w.cfg.Now().Add(wait)) {
				return consumer.Later(fmt.Sprintf("step budget spent after %d polls", t.lim.polls))
			}
			if err := retry.Sleep(ctx, wait); err != nil {
				return consumer.Nack(fmt.Errorf("shutdown while polling job %s: %w", jobID, err))
			}
		}
		if o, stop := w.checkAttempt(ctx, t, jobID, h); stop {
			return o
		}
		st, err := t.be.Poll(ctx, h)
		if ctx.Err() != nil {
			return consumer.Nack(fmt.Errorf("shutdown while polling job %s: %w", jobID, ctx.Err()))
		}
		t.lim.polled()
		wait = interval
		switch {
		case err != nil:
			var f *failure
			if wait, f = w.pollFailed(ctx, t, jobID, err, &pe, interval); f != nil {
				return w.fail(ctx, t, jobID, *f)
			}
		case st.State.Terminal():
			return w.finish(ctx, t, jobID, st)
		default:
			pe.n = 0
		}
		w.keepAlive(ctx, t, jobID, h, &ka)
		if w.cfg.Now().Sub(started) > w.cfg.GenerationTimeout {
			return w.timedOut(ctx, t, jobID, h)
		}
		if t.lim.pollsUsed() {
			return consumer.Later(fmt.Sprintf("step poll limit of %d reached", t.lim.maxPolls))
		}
	}
}

// checkAttempt reads the job before a poll: stop is true, with what to do
// with the message, when the attempt no longer needs this poller (finished
// or given up by someone else, or its job canceled).
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

// pollErrors counts consecutive failed polls.
type pollErrors struct {
	n       int
	backoff retry.Policy
}

// pollFailed judges a failed poll: the attempt fails (f) when the provider
// refuses the handle or after PollErrorLimit consecutive errors; otherwise
// polling goes on after wait.
func (w *Worker) pollFailed(ctx context.Context, t *task, jobID string, err error, pe *pollErrors, interval time.Duration) (wait time.Duration, f *failure) {
	err = fmt.Errorf("poll job %s on %s: %w", jobID, t.name, err)
	c := classify(err)
	if !errclass.IsRetryable(err) {
		// The provider refuses this handle (not found, permanent): the
		// attempt is lost, not the request.
		if c.class != errclass.ContentSafety {
			c = failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: err.Error()}
		}
		return 0, &c
	}
	pe.n++
	if pe.n > w.cfg.PollErrorLimit {
		c.msg = fmt.Sprintf("%d consecutive poll errors, last: %v", pe.n, err)
		return 0, &c
	}
	wait = max(interval, pe.backoff.Delay(pe.n, err))
	t.log.WarnContext(ctx, "poll failed; retrying", "error", err, "consecutive_errors", pe.n, "wait", wait.String())
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

type keepAlive struct{ beat, renew time.Time }

// keepAlive refreshes the attempt's heartbeat every Config.Heartbeat and
// renews the concurrency slot every third of its lease. Failures are
// logged: polling goes on.
func (w *Worker) keepAlive(ctx context.Context, t *task, jobID string, h backend.Handle, ka *keepAlive) {
	now := w.cfg.Now()
	if t.slot != nil && now.Sub(ka.renew) >= w.cfg.SlotLease/3 {
		ka.renew = now
		w.renewSlot(ctx, t)
	}
	if now.Sub(ka.beat) < w.cfg.Heartbeat {
		return
	}
	ka.beat = now
	_, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.Attempt(t.msg.Attempt)
		if j.Status.Terminal() || a == nil || a.Handle != string(h) || a.Status.Finished() {
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
