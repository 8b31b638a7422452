package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// cancelAttempt ends attempt a of a job the API canceled, at whatever stage
// the attempt is (see "Cancel" in the package doc).
func (w *Worker) cancelAttempt(ctx context.Context, t *task, j *job.Job, a *job.Attempt) (consumer.Outcome, error) {
	switch {
	case a.Handle != "":
		return w.cancelGeneration(ctx, t, j.ID, backend.Handle(a.Handle)), nil
	case a.Status == job.AttemptDispatched:
		return w.recordCanceled(ctx, t, j.ID, func(a *job.Attempt) bool {
			return a.Status == job.AttemptDispatched
		}, false, 0, "job canceled before the attempt was submitted"), nil
	default: // submitting without a handle
		return w.reconcile(ctx, t, j, a)
	}
}

// cancelGeneration cancels the generation h of a canceled job at the
// provider, asks the provider what it bills for it, and records the attempt
// as canceled with that cost. Shutdown gives it DrainTimeout. A Cancel that
// fails transiently nacks: the redelivery cancels again.
func (w *Worker) cancelGeneration(ctx context.Context, t *task, jobID string, h backend.Handle) consumer.Outcome {
	cctx, cancel := w.drainCtx(ctx, w.cfg.SubmitTimeout)
	defer cancel()
	if err := w.cancelAtProvider(cctx, t, h); err != nil {
		if errclass.IsRetryable(err) {
			return consumer.Nack(fmt.Errorf("cancel generation of canceled job %s at %s: %w", jobID, t.name, err))
		}
		// Unknown or finished at the provider: nothing left to stop.
		t.log.WarnContext(ctx, "provider refused the cancel; recording the attempt as canceled", "error", err)
	}
	billed, secs := false, 0
	st, err := t.be.Poll(cctx, h)
	switch {
	case err != nil:
		t.log.WarnContext(ctx, "could not read what the provider bills for the canceled generation; recording no cost", "error", err)
	case st.State == backend.StateSucceeded:
		billed, secs = true, st.DurationSeconds // finished before the cancel: a delivered video
	default:
		billed = st.Billed
	}
	o := w.recordCanceled(cctx, t, jobID, func(a *job.Attempt) bool { return a.Handle == string(h) }, billed, secs,
		fmt.Sprintf("job canceled; generation canceled at %s (provider state %s)", t.name, stateOf(st, err)))
	if o.Verdict == consumer.VerdictAck {
		t.log.InfoContext(ctx, "canceled job's generation canceled at the provider", "handle", string(h), "billed", billed)
	}
	return o
}

func stateOf(st backend.Status, err error) string {
	if err != nil || st.State == "" {
		return "unknown"
	}
	return string(st.State)
}

// cancelAtProvider calls Cancel, retrying transient errors (Config.Retry).
func (w *Worker) cancelAtProvider(ctx context.Context, t *task, h backend.Handle) error {
	return retry.Do(ctx, w.cfg.Retry, func(ctx context.Context) error { return t.be.Cancel(ctx, h) })
}

// recordCanceled records the attempt of a canceled job as canceled, in one
// transaction with its cost: the price of secs (0: the attempt's billed
// seconds) when billed, else nothing. guard must hold on the stored attempt.
func (w *Worker) recordCanceled(ctx context.Context, t *task, jobID string, guard func(*job.Attempt) bool, billed bool, secs int, msg string) consumer.Outcome {
	now := w.cfg.Now()
	_, o, ok := w.endAttempt(ctx, t, jobID, "record canceled attempt", func(j *job.Job, a *job.Attempt) ([]store.Event, error) {
		if j.Status != job.StatusCanceled || a.Status.Finished() {
			return nil, errUnchanged
		}
		if !guard(a) {
			return nil, errRaced
		}
		var cost money.Micros
		if billed {
			cost = w.price(ctx, t, j, a, cmpOr(secs, cmpOr(a.DurationSeconds, t.msg.Seconds)))
		}
		return j.CancelAttempt(a.Number, cost, msg, now)
	})
	if errors.Is(o.Err, errRaced) {
		// The attempt moved on (a handle appeared): the redelivery applies
		// the rules to what is stored now.
		return consumer.Nack(fmt.Errorf("attempt %d of canceled job %s changed meanwhile", t.msg.Attempt, jobID))
	}
	if !ok {
		return o
	}
	return consumer.Ack()
}
