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

// submit waits for the attempt's NotBefore, takes a concurrency slot,
// records the intent, submits, records the handle and polls.
func (w *Worker) submit(ctx context.Context, t *task, j *job.Job) (consumer.Outcome, error) {
	if o, ok := w.awaitNotBefore(ctx, t, j); !ok {
		return o, nil
	}
	if o, ok := w.takeSlot(ctx, t); !ok {
		return o, nil
	}
	now := store.NormalizeTime(w.cfg.Now())
	j, err := w.updateJob(ctx, j.ID, func(j *job.Job) ([]store.Event, error) {
		a := j.CurrentAttempt()
		if a != nil && a.Number == t.msg.Attempt && ourIntent(a, now) {
			return nil, nil // a retried try whose first one committed
		}
		events, err := j.RecordIntent(t.msg.Attempt, now)
		if errors.Is(err, errclass.Conflict) {
			return nil, errRaced // not waiting for a worker any more
		}
		return events, err
	})
	switch {
	case errors.Is(err, errRaced):
		// Another delivery of this attempt took it (it enters the same
		// slot), or the job was canceled (the rules release it).
		return consumer.Outcome{}, errRaced
	case err != nil:
		w.releaseSlot(ctx, t) // the attempt is still dispatched: nobody runs it
		return consumer.StoreError("record submit intent of job "+t.msg.JobID, err), nil
	}
	return w.submitAndPoll(ctx, t, j, now), nil
}

// ourIntent reports whether a is submitting under the intent recorded at
// intent, without a handle yet.
func ourIntent(a *job.Attempt, intent time.Time) bool {
	return a.Status == job.AttemptSubmitting && a.Handle == "" && a.SubmittedAt != nil &&
		a.SubmittedAt.Equal(store.NormalizeTime(intent))
}

// intentGuard guards a write that is only right while the attempt is still
// submitting under the intent recorded at intent (no handle recorded since).
func intentGuard(intent time.Time) func(*job.Attempt) bool {
	return func(a *job.Attempt) bool { return ourIntent(a, intent) }
}

// submitAndPoll calls Submit for the intent recorded at intent (j is the
// job as that intent left it), records the handle and polls. The caller
// holds the attempt's concurrency slot.
func (w *Worker) submitAndPoll(ctx context.Context, t *task, j *job.Job, intent time.Time) consumer.Outcome {
	a := j.CurrentAttempt()
	// Shutdown does not interrupt a Submit at once: its handle must be
	// recorded. It gets DrainTimeout after ctx is done.
	sctx, cancel := w.drainCtx(ctx, w.cfg.SubmitTimeout)
	h, err := t.be.Submit(sctx, w.submitRequest(t, j, a))
	cut := sctx.Err() != nil
	cancel()
	if err != nil && cut {
		// Cut by SubmitTimeout or by shutdown: the request may have
		// reached the provider. Leave the intent for reconciliation when
		// the provider can be asked, or when shutting down; fail over now
		// otherwise (what reconciliation would do, minus the wait).
		_, canFind := t.be.(backend.Finder)
		if ctx.Err() != nil || canFind {
			return consumer.Nack(fmt.Errorf("submit job %s to %s cut short, outcome unknown (reconciled on redelivery): %w", j.ID, t.name, err))
		}
		return w.fail(ctx, t, j.ID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable,
			msg: fmt.Sprintf("submit job %s to %s: no answer within %s: %v", j.ID, t.name, w.cfg.SubmitTimeout, err), guard: intentGuard(intent)})
	}
	if err != nil {
		t.log.WarnContext(ctx, "submit failed", "error", err)
		f := classify(fmt.Errorf("submit job %s to %s: %w", j.ID, t.name, err))
		f.guard = intentGuard(intent)
		if f.class == errclass.Retryable && errclass.NotAccepted(err) {
			f.retryAt = w.refusalRetryAt(j, t.name, err)
		}
		return w.fail(ctx, t, j.ID, f)
	}
	if h == "" {
		return w.fail(ctx, t, j.ID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable,
			msg: "submit returned an empty handle", guard: intentGuard(intent)})
	}
	if o, ok := w.recordHandle(ctx, t, h); !ok {
		return o
	}
	// A fresh generation is not done yet: wait one interval before polling.
	return w.poll(ctx, t, polling{jobID: j.ID, h: h, started: intent, wait: w.pollInterval(t.be)})
}

// recordHandle stores the handle right after Submit, retrying transient
// store errors (a lost handle is a paid generation lost) even through
// shutdown, for up to DrainTimeout. ok is false when the caller must return
// o instead of polling: the job was canceled meanwhile (the generation is
// canceled at the provider and the attempt recorded as canceled), or the
// attempt was given up by someone else (the generation is orphaned and
// canceled).
func (w *Worker) recordHandle(ctx context.Context, t *task, h backend.Handle) (o consumer.Outcome, ok bool) {
	rctx, cancel := w.drainCtx(ctx, w.cfg.SubmitTimeout)
	defer cancel()
	policy := w.cfg.Retry
	policy.MaxAttempts, policy.MaxElapsed = -1, 0 // until rctx ends
	var (
		canceled bool
		err      error
	)
	err = retry.Do(rctx, policy, func(rctx context.Context) error {
		now := w.cfg.Now()
		_, err := w.updateJob(rctx, t.msg.JobID, func(j *job.Job) ([]store.Event, error) {
			canceled = j.Status == job.StatusCanceled
			a := j.CurrentAttempt()
			switch {
			case a == nil || a.Number != t.msg.Attempt:
				return nil, errUnchanged
			case a.Handle == string(h):
				return nil, errAlready // a retried try committed, or a reconciler adopted it
			case a.Status != job.AttemptSubmitting || a.Handle != "" || (j.Status.Terminal() && !canceled):
				return nil, errUnchanged
			}
			// A canceled job still gets the handle: the cancellation below
			// (or a redelivery's) needs it.
			return j.RecordHandle(a.Number, string(h), now, "submitted", "accepted by "+a.Backend)
		})
		return err
	})
	switch {
	case err == nil, errors.Is(err, errAlready), errors.Is(err, errMaybeCommitted) && w.handleIs(rctx, t, h):
		if canceled {
			return w.cancelGeneration(ctx, t, t.msg.JobID, h), false
		}
		return consumer.Outcome{}, true
	case errors.Is(err, errUnchanged):
		// The attempt was given up while we submitted (failed over by a
		// reconciler, or the job ended): nobody will poll this generation.
		t.log.WarnContext(ctx, "generation orphaned by a state change during submit; canceling it at the provider", "handle", string(h))
		if cerr := w.cancelAtProvider(rctx, t, h); cerr != nil {
			t.log.ErrorContext(ctx, "cancel orphaned generation failed", "handle", string(h), "error", cerr)
		}
		return consumer.Ack(), false
	}
	// The handle is not recorded. The intent stays: a redelivery reconciles
	// it (see doc).
	t.log.ErrorContext(ctx, "could not record the handle of a submitted generation", "handle", string(h), "error", err)
	return consumer.Nack(fmt.Errorf("record handle of job %s: %w", t.msg.JobID, err)), false
}

// errAlready aborts recordHandle's transaction when the attempt has the
// handle already; a Conflict, so never retried.
var errAlready = errclass.New(errclass.Conflict, "handle already recorded")

// handleIs reports whether the stored attempt has handle h.
func (w *Worker) handleIs(ctx context.Context, t *task, h backend.Handle) bool {
	j, err := w.getJob(ctx, t.msg.JobID)
	if err != nil {
		return false
	}
	a := j.Attempt(t.msg.Attempt)
	return a != nil && a.Handle == string(h)
}

// reconcile decides about an attempt that is submitting without a handle:
// a worker is inside Submit now, or it died (or lost the answer) between
// Submit and recording the handle. See "Reconciliation" in the package doc.
// It serves canceled jobs too: the generation, if found, is canceled.
func (w *Worker) reconcile(ctx context.Context, t *task, j *job.Job, a *job.Attempt) (consumer.Outcome, error) {
	intent := submittedAt(a)
	age := w.cfg.Now().Sub(intent)
	canceled := j.Status == job.StatusCanceled
	finder, canFind := t.be.(backend.Finder)
	giveUp := 2 * w.cfg.SubmitTimeout
	if canFind {
		// Failed lookups are retried for a while after the first one is
		// due, however short SubmitTimeout is.
		giveUp = w.cfg.SubmitTimeout + FindGrace + max(w.cfg.SubmitTimeout, FindRetryWindow)
	}
	switch {
	case canFind && age < w.cfg.SubmitTimeout+FindGrace:
		return w.awaitSubmitter(ctx, t, j, a, intent.Add(w.cfg.SubmitTimeout+FindGrace))
	case !canFind && age < giveUp:
		return w.awaitSubmitter(ctx, t, j, a, intent.Add(giveUp))
	case canFind:
		req := w.submitRequest(t, j, a)
		var (
			h     backend.Handle
			found bool
		)
		fctx, cancel := context.WithTimeout(ctx, w.cfg.SubmitTimeout)
		err := retry.Do(fctx, w.cfg.Retry, func(ctx context.Context) (err error) {
			h, found, err = finder.Find(ctx, req, intent)
			return err
		})
		cancel()
		switch {
		case err == nil && found && h != "":
			return w.adopt(ctx, t, j.ID, intent, h, canceled)
		case err == nil && !found:
			if canceled {
				return w.recordCanceled(ctx, t, j.ID, intentGuard(intent), false, 0,
					"job canceled; the provider has no generation for the submit intent"), nil
			}
			return w.resubmit(ctx, t, j.ID, intent)
		case ctx.Err() != nil:
			return consumer.Nack(fmt.Errorf("shutdown while reconciling job %s: %w", j.ID, ctx.Err())), nil
		}
		if err == nil {
			err = errors.New("provider lookup found an empty handle")
		}
		t.log.WarnContext(ctx, "provider lookup of an unknown submit outcome failed", "intent_age", age.String(), "error", err)
		if age < giveUp {
			return consumer.Wait(fmt.Errorf("submit outcome of attempt %d unknown and the provider lookup failed (intent %s old): %w",
				a.Number, age.Round(time.Second), err)), nil
		}
	}
	msg := fmt.Sprintf("submit outcome unknown: no handle recorded %s after the submit intent", age.Round(time.Second))
	if canceled {
		return w.recordCanceled(ctx, t, j.ID, intentGuard(intent), false, 0, "job canceled; "+msg), nil
	}
	return w.fail(ctx, t, j.ID, failure{class: errclass.Retryable, code: job.CodeBackendUnavailable, msg: msg,
		noStrike: true, guard: intentGuard(intent)}), nil
}

// adopt records h, which the provider lookup found for the intent at
// intent, as the attempt's handle, then polls it (or cancels it when the
// job is canceled).
func (w *Worker) adopt(ctx context.Context, t *task, jobID string, intent time.Time, h backend.Handle, canceled bool) (consumer.Outcome, error) {
	now := w.cfg.Now()
	_, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.Attempt(t.msg.Attempt)
		if a != nil && a.Handle == string(h) {
			return nil, nil
		}
		if a == nil || !ourIntent(a, intent) {
			return nil, errRaced
		}
		events, err := j.RecordHandle(a.Number, string(h), now, "reconciled",
			"the provider has the generation of the submit intent; resuming it instead of submitting again")
		if errors.Is(err, errclass.Conflict) {
			return nil, errRaced
		}
		return events, err
	})
	switch {
	case errors.Is(err, errRaced):
		return consumer.Outcome{}, errRaced
	case err != nil:
		return consumer.StoreError("record reconciled handle of job "+jobID, err), nil
	}
	t.log.InfoContext(ctx, "reconciled a lost submit answer with the provider", "handle", string(h))
	if canceled {
		return w.cancelGeneration(ctx, t, jobID, h), nil
	}
	w.enterSlot(ctx, t)
	return w.poll(ctx, t, polling{jobID: jobID, h: h, started: intent}), nil
}

// resubmit records a fresh intent in place of the one at old, which the
// provider lookup proved never reached the provider, and submits.
func (w *Worker) resubmit(ctx context.Context, t *task, jobID string, old time.Time) (consumer.Outcome, error) {
	if o, ok := w.takeSlot(ctx, t); !ok {
		return o, nil
	}
	now := store.NormalizeTime(w.cfg.Now())
	j, err := w.updateJob(ctx, jobID, func(j *job.Job) ([]store.Event, error) {
		a := j.Attempt(t.msg.Attempt)
		if a != nil && ourIntent(a, now) {
			return nil, nil
		}
		if a == nil || j.Status != job.StatusRunning || j.CurrentAttempt() != a || !ourIntent(a, old) {
			return nil, errRaced
		}
		a.SubmittedAt = &now
		return []store.Event{{Type: "resubmitting", Backend: a.Backend, Attempt: a.Number, Message: fmt.Sprintf(
			"the provider has no generation for the submit intent of %s; submitting again", old.UTC().Format(time.RFC3339))}}, nil
	})
	switch {
	case errors.Is(err, errRaced):
		return consumer.Outcome{}, errRaced
	case err != nil:
		return consumer.StoreError("record fresh submit intent of job "+jobID, err), nil
	}
	t.log.InfoContext(ctx, "submit provably did not happen; submitting again")
	return w.submitAndPoll(ctx, t, j, now), nil
}

// awaitSubmitter waits in hand, for up to SubmitWait (or what is left of a
// push step), while another worker may still be inside the Submit of
// attempt a, whose outcome can be judged at decide. It re-reads the job
// every second: when the state changes (a handle appears, the attempt ends,
// the job is canceled) or decide is reached, it returns errRaced so that
// the rules are applied to the new state; when the wait runs out first it
// nacks.
func (w *Worker) awaitSubmitter(ctx context.Context, t *task, j *job.Job, a *job.Attempt, decide time.Time) (consumer.Outcome, error) {
	intent, status := submittedAt(a), j.Status
	now := w.cfg.Now()
	stop := now.Add(w.cfg.SubmitWait)
	if rest, bounded := t.lim.remaining(now); bounded && now.Add(rest).Before(stop) {
		stop = now.Add(rest)
	}
	if decide.Before(stop) {
		stop = decide
	}
	for {
		now = w.cfg.Now()
		if !now.Before(stop) {
			if !now.Before(decide) {
				return consumer.Outcome{}, errRaced // time to judge: apply the rules again
			}
			return consumer.Wait(fmt.Errorf("attempt %d is being submitted by another worker (intent %s old)",
				a.Number, now.Sub(intent).Round(time.Millisecond))), nil
		}
		if err := retry.Sleep(ctx, min(stop.Sub(now), time.Second)); err != nil {
			return consumer.Nack(fmt.Errorf("shutdown while waiting for the submit of job %s: %w", j.ID, err)), nil
		}
		cur, err := w.getJob(ctx, j.ID)
		if err != nil {
			return consumer.StoreError("reload job "+j.ID, err), nil
		}
		if ca := cur.Attempt(a.Number); ca == nil || ca.Status != a.Status || ca.Handle != a.Handle ||
			!submittedAt(ca).Equal(intent) || cur.Status != status || cur.CurrentAttempt() != ca {
			return consumer.Outcome{}, errRaced
		}
	}
}

// refusalRetryAt is when backend may serve job j again after refusing the
// current attempt's submit with err: RefusalBackoff's delay for the number
// of refusals j had there (Retry-After when the provider gave one), or nil
// when that is beyond MaxRefusalWait.
func (w *Worker) refusalRetryAt(j *job.Job, backend string, err error) *time.Time {
	refusals := 1 // this one
	cur := j.CurrentAttempt()
	for _, a := range j.Attempts {
		if a.Backend == backend && a.RetryAt != nil && (cur == nil || a.Number != cur.Number) {
			refusals++
		}
	}
	d := w.cfg.RefusalBackoff.Delay(refusals, err)
	if d > w.cfg.MaxRefusalWait {
		return nil
	}
	at := store.NormalizeTime(w.cfg.Now().Add(d))
	return &at
}

// awaitNotBefore holds a delivery until the attempt's NotBefore (a retry
// of a backend that refused the job). A wait longer than SubmitWait, or
// than what is left of a push step, nacks instead: ok is false and o says
// what to do with the message.
func (w *Worker) awaitNotBefore(ctx context.Context, t *task, j *job.Job) (o consumer.Outcome, ok bool) {
	a := j.CurrentAttempt()
	if a == nil || a.NotBefore == nil {
		return consumer.Outcome{}, true
	}
	now := w.cfg.Now()
	wait := a.NotBefore.Sub(now)
	if wait <= 0 {
		return consumer.Outcome{}, true
	}
	hold := w.cfg.SubmitWait
	if rest, bounded := t.lim.remaining(now); bounded {
		hold = min(hold, rest)
	}
	if wait > hold {
		return consumer.Wait(fmt.Errorf("attempt %d retries %s, which refused an earlier attempt: not before %s",
			a.Number, t.name, a.NotBefore.Format(time.RFC3339Nano))), false
	}
	t.log.InfoContext(ctx, "waiting before retrying a backend that refused an earlier attempt", "wait", wait)
	if err := retry.Sleep(ctx, wait); err != nil {
		return consumer.Nack(fmt.Errorf("shutdown while waiting to retry job %s on %s: %w", j.ID, t.name, err)), false
	}
	return consumer.Outcome{}, true
}

// capacity is the catalog's concurrency cap of a backend; 0 for none.
func (w *Worker) capacity(name string) int {
	if b := w.cfg.Catalog.Backend(name); b != nil {
		return b.Concurrency
	}
	return 0
}

// busyRetryMax is the longest pause between the tries of a delivery
// waiting for a slot (busyPolicy); slotMarkTTL, the life of the waiting
// mark such a try leaves for its project (store.SlotClaim.MarkTTL), is a
// few of them, so that a project counts as waiting as long as one of its
// deliveries is.
const (
	busyRetryMax = 2 * time.Second
	slotMarkTTL  = 5 * busyRetryMax
)

// busyPolicy waits for a busy slot to come free (ErrNoFreeSlot, or a lost
// transaction race: both errclass.Conflict) until ctx ends; transient
// store errors are Config.Retry's business, inside it.
func (w *Worker) busyPolicy() retry.Policy {
	p := w.cfg.Retry
	p.MaxAttempts, p.MaxElapsed = -1, 0
	p.Initial, p.Max = 50*time.Millisecond, busyRetryMax // jittered: waiters do not hammer the slot documents
	p.Retryable = func(err error) bool { return errors.Is(err, errclass.Conflict) }
	return p
}

// acquireSlot claims one of the n slots of t's backend for t's attempt: a
// new generation under the fair share between projects, or (resume) one
// already running at the provider, which takes any free slot.
func (w *Worker) acquireSlot(ctx context.Context, t *task, n int, resume bool) (store.Slot, error) {
	return store.AcquireSlot(ctx, w.cfg.Store, store.SlotClaim{Backend: t.name, Capacity: n, Holder: t.holder(),
		Project: t.msg.ProjectID, Lease: w.cfg.SlotLease, Resume: resume, MarkTTL: slotMarkTTL, DispatchedAt: t.dispatched}, w.cfg.Now())
}

// takeSlot acquires the attempt's concurrency slot before a Submit (see
// store.AcquireSlot: the fair share between projects applies), waiting up
// to SlotWait (less when a push step's budget ends first). ok is false,
// with a nack outcome, when no slot came free: the message returns later
// instead of a handler blocking on it.
func (w *Worker) takeSlot(ctx context.Context, t *task) (o consumer.Outcome, ok bool) {
	n := w.capacity(t.name)
	if n <= 0 || (t.slot != nil && t.slot.Holder == t.holder()) {
		return consumer.Outcome{}, true
	}
	wait := w.cfg.SlotWait
	if rest, bounded := t.lim.remaining(w.cfg.Now()); bounded {
		wait = min(wait, max(rest, 100*time.Millisecond)) // one try even at the budget's end
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var sl store.Slot
	err := retry.Do(wctx, w.busyPolicy(), func(wctx context.Context) error {
		return retry.Do(wctx, w.cfg.Retry, func(wctx context.Context) (err error) {
			sl, err = w.acquireSlot(wctx, t, n, false)
			return err
		})
	})
	switch {
	case err == nil:
		t.slot = &sl
		return consumer.Outcome{}, true
	case ctx.Err() != nil:
		return consumer.Nack(fmt.Errorf("shutdown while waiting for a %s concurrency slot: %w", t.name, ctx.Err())), false
	case errors.Is(err, store.ErrNoFreeSlot) || wctx.Err() != nil:
		return consumer.Wait(fmt.Errorf("all %d %s concurrency slots stayed busy for %s", n, t.name, wait)), false
	default:
		return consumer.StoreError("acquire a "+t.name+" concurrency slot", err), false
	}
}

// enterSlot re-enters (or takes) the attempt's slot before polling a
// generation that already runs at the provider: any free slot, fair share
// aside, since the generation runs and counts whether it holds one or not.
// It is best effort: not polling would not stop the generation, so a full
// or failing slot store only logs.
func (w *Worker) enterSlot(ctx context.Context, t *task) {
	n := w.capacity(t.name)
	if n <= 0 || t.slot != nil {
		return
	}
	p := w.cfg.Retry
	p.Retryable = func(err error) bool { return errors.Is(err, errclass.Retryable) }
	var sl store.Slot
	err := retry.Do(ctx, p, func(ctx context.Context) (err error) {
		sl, err = w.acquireSlot(ctx, t, n, true)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			t.log.WarnContext(ctx, "polling a running generation without its concurrency slot", "error", err)
		}
		return
	}
	t.slot = &sl
}

// renewSlot extends the held slot's lease; a lost slot is taken again if
// one is free.
func (w *Worker) renewSlot(ctx context.Context, t *task) {
	p := w.cfg.Retry
	p.Retryable = func(err error) bool { return errors.Is(err, errclass.Retryable) }
	var sl store.Slot
	err := retry.Do(ctx, p, func(ctx context.Context) (err error) {
		sl, err = store.RenewSlot(ctx, w.cfg.Store, *t.slot, w.cfg.Now(), w.cfg.SlotLease)
		return err
	})
	switch {
	case err == nil:
		t.slot = &sl
	case errors.Is(err, store.ErrSlotLost):
		t.log.WarnContext(ctx, "concurrency slot lease expired and was taken; taking another", "slot", t.slot.Index)
		t.slot = nil
		w.enterSlot(ctx, t)
	case ctx.Err() == nil:
		t.log.WarnContext(ctx, "concurrency slot renewal failed", "slot", t.slot.Index, "error", err)
	}
}

// releaseSlot frees the slot this delivery holds, even through shutdown
// (for up to DrainTimeout); failures are logged, and the lease frees it
// later anyway.
//
// A delivery that took no slot may still end an attempt whose slot another
// worker took before it died (a redelivery that fails an unknown submit):
// the slot is held by the attempt's holder id, so it is found by taking it
// back (AcquireSlot returns a holder's own slot renewed) and released
// instead of staying held until its lease runs out.
func (w *Worker) releaseSlot(ctx context.Context, t *task) {
	rctx, cancel := w.drainCtx(ctx, w.cfg.DrainTimeout)
	defer cancel()
	if t.slot == nil {
		n := w.capacity(t.name)
		if n <= 0 {
			return
		}
		sl, err := w.acquireSlot(rctx, t, n, true)
		if err != nil {
			return // none free, so none of ours to free
		}
		t.slot = &sl
	}
	sl := *t.slot
	err := retry.Do(rctx, w.cfg.Retry, func(rctx context.Context) error { return store.ReleaseSlot(rctx, w.cfg.Store, sl, w.cfg.Now()) })
	if err != nil {
		t.log.WarnContext(ctx, "concurrency slot release failed; it frees at lease expiry", "slot", sl.Index, "error", err)
		return
	}
	t.slot = nil
}

func submittedAt(a *job.Attempt) time.Time {
	if a.SubmittedAt != nil {
		return *a.SubmittedAt
	}
	return a.StartedAt
}

func (w *Worker) submitRequest(t *task, j *job.Job, a *job.Attempt) backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: j.ID, Attempt: a.Number, Model: a.Model, DurationSeconds: cmpOr(a.DurationSeconds, t.msg.Seconds),
		Prompt: j.Request.Prompt, ImageURL: j.Request.ImageURL, Resolution: j.Request.Resolution,
		AspectRatio: j.Request.AspectRatio, Audio: j.Request.Audio,
	}
}

// drainCtx returns a context for work that shutdown must not cut in half:
// it is not canceled with ctx, but ends after timeout, or DrainTimeout
// after ctx is done, whichever comes first.
func (w *Worker) drainCtx(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	drain := w.cfg.DrainTimeout
	// AfterFunc runs its function in a goroutine of its own once ctx is
	// done: it waits out the drain, or the end of dctx (the caller's
	// cancel, the timeout), whichever comes first.
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-dctx.Done():
		}
	})
	return dctx, func() {
		stop()
		cancel()
	}
}
