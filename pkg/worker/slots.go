package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// capacity is the catalog's concurrency cap of a backend; 0 for none.
func (w *Worker) capacity(name string) int {
	if b := w.cfg.Catalog.Backend(name); b != nil {
		return b.Concurrency
	}
	return 0
}

// busyPolicy waits for a busy slot to come free (ErrNoFreeSlot, or a lost
// transaction race: both errclass.Conflict) until ctx ends; transient
// store errors are Config.Retry's business, inside it.
func (w *Worker) busyPolicy() retry.Policy {
	p := w.cfg.Retry
	p.MaxAttempts, p.MaxElapsed = -1, 0
	p.Initial, p.Max = 50*time.Millisecond, 2*time.Second // jittered: waiters do not hammer the slot documents
	p.Retryable = func(err error) bool { return errors.Is(err, errclass.Conflict) }
	return p
}

// takeSlot acquires the attempt's concurrency slot before a Submit (see
// store.AcquireSlot), waiting up to SlotWait (less when a push step's
// budget ends first). ok is false, with a nack outcome, when no slot came
// free: the message returns later instead of a handler blocking on it.
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
			sl, err = store.AcquireSlot(wctx, w.cfg.Store, t.name, n, t.holder(), w.cfg.Now(), w.cfg.SlotLease)
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
// generation that already runs at the provider. It is best effort: not
// polling would not stop the generation, so a full or failing slot store
// only logs.
func (w *Worker) enterSlot(ctx context.Context, t *task) {
	n := w.capacity(t.name)
	if n <= 0 || t.slot != nil {
		return
	}
	p := w.cfg.Retry
	p.Retryable = func(err error) bool { return errors.Is(err, errclass.Retryable) }
	var sl store.Slot
	err := retry.Do(ctx, p, func(ctx context.Context) (err error) {
		sl, err = store.AcquireSlot(ctx, w.cfg.Store, t.name, n, t.holder(), w.cfg.Now(), w.cfg.SlotLease)
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
		sl, err := store.AcquireSlot(rctx, w.cfg.Store, t.name, n, t.holder(), w.cfg.Now(), w.cfg.SlotLease)
		if err != nil {
			return // none free, so none of ours to free
		}
		t.slot = &sl
	}
	sl := *t.slot
	err := retry.Do(rctx, w.cfg.Retry, func(rctx context.Context) error { return store.ReleaseSlot(rctx, w.cfg.Store, sl) })
	if err != nil {
		t.log.WarnContext(ctx, "concurrency slot release failed; it frees at lease expiry", "slot", sl.Index, "error", err)
		return
	}
	t.slot = nil
}
