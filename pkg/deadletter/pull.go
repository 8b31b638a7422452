package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// settleTimeout bounds each ExtendDeadline, Ack and Nack call of a hold,
// which are made even when the caller's ctx is done so that held messages
// are released at once rather than when their lease expires.
const settleTimeout = 10 * time.Second

// holdFor is the lease a hold takes on what it pulls, whatever the
// subscription's ack deadline (which may be as short as 10s).
const holdFor = 120 * time.Second

// hold is what one List or Replay pulled from a dead-letter subscription
// and holds (leased, neither acked nor nacked) until it releases them.
type hold struct {
	q    queue.Puller
	sub  string
	msgs []queue.Pulled // distinct messages, in pull order
	errs []error        // of extending and settling leases
}

// pull pulls until max distinct messages are held, keep asks to stop, a
// Pull answers none (the queue waited its own short while) or nothing came
// for wait, or ctx is done. keep sees each held message once, never
// concurrently, and reports whether the hold has all it needs. A held
// message's lease is extended to holdFor at once; a duplicate delivery, or
// one past the end, is nacked at once. pull returns a failed Pull's error.
//
// A Pull has no messages in flight once it returned, so what it did not
// return stays available and listings are exact up to the queue's own
// at-least-once (a lost Ack means a replayed message is listed, and may be
// replayed, again; a Pull cut short by wait or ctx may leave what the
// server had leased to it hidden until its lease expires).
func (h *hold) pull(ctx context.Context, max int, wait time.Duration, keep func(queue.Pulled) (stop bool)) error {
	seen := map[string]bool{}
	for stop := false; !stop && len(h.msgs) < max && ctx.Err() == nil; {
		pctx, cancel := context.WithTimeout(ctx, wait)
		ps, err := h.q.Pull(pctx, h.sub, max-len(h.msgs))
		idle := pctx.Err() != nil
		cancel()
		switch {
		case err != nil && idle:
			return nil // nothing for wait, or ctx is done
		case err != nil:
			return fmt.Errorf("deadletter: %w", err)
		case len(ps) == 0:
			return nil
		}
		var held, extra []string
		for _, p := range ps {
			if stop || seen[p.Message.ID] || len(h.msgs) >= max {
				extra = append(extra, p.AckID)
				continue
			}
			seen[p.Message.ID] = true
			h.msgs = append(h.msgs, p)
			held = append(held, p.AckID)
			stop = keep(p)
		}
		h.call(ctx, "extend leases", func(ctx context.Context) error {
			return h.q.ExtendDeadline(ctx, h.sub, holdFor, held...)
		})
		h.settle(ctx, nil, extra)
	}
	return nil
}

// release acks the held messages whose ack ids are in acked and nacks all
// others, so that they can be listed or replayed again at once.
func (h *hold) release(ctx context.Context, acked map[string]bool) {
	var acks, nacks []string
	for _, p := range h.msgs {
		if acked[p.AckID] {
			acks = append(acks, p.AckID)
		} else {
			nacks = append(nacks, p.AckID)
		}
	}
	h.settle(ctx, acks, nacks)
}

func (h *hold) settle(ctx context.Context, acks, nacks []string) {
	h.call(ctx, "ack", func(ctx context.Context) error { return h.q.Ack(ctx, h.sub, acks...) })
	h.call(ctx, "nack", func(ctx context.Context) error { return h.q.Nack(ctx, h.sub, nacks...) })
}

// call runs one lease call with a ctx that outlives ctx, bounded by
// settleTimeout, and records its error.
func (h *hold) call(ctx context.Context, what string, f func(ctx context.Context) error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := f(sctx); err != nil {
		h.errs = append(h.errs, fmt.Errorf("deadletter: %s on %s: %w", what, h.sub, err))
	}
}

// result is the error of a List or Replay whose own error (a failed Pull or
// publish) is err: err, else the lease errors, else ctx's end classified
// errclass.Retryable; err and the lease errors are joined.
func (h *hold) result(ctx context.Context, err error) error {
	switch {
	case err != nil:
		return errors.Join(append([]error{err}, h.errs...)...)
	case len(h.errs) > 0:
		return errors.Join(h.errs...)
	case ctx.Err() != nil:
		return errclass.Wrap(errclass.Retryable, ctx.Err(), "deadletter: "+h.sub)
	}
	return nil
}
