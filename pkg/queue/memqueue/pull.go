package memqueue

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// PullWait is how long Pull waits for a message when none is available, as
// long as pkg/emulator/pubsub waits.
const PullWait = 500 * time.Millisecond

// Pull leases up to max available messages of subscription, in publish
// order, for the subscription's ack deadline; see queue.Puller. When none is
// available it waits up to PullWait for one. Each Pull of a message is a
// delivery, counted in DeliveryAttempt and towards MaxDeliveryAttempts, as
// with Receive.
func (q *Queue) Pull(ctx context.Context, name string, max int) ([]queue.Pulled, error) {
	if max < 1 {
		return nil, errclass.New(errclass.Permanent, "memqueue: pull from %s: max must be at least 1, got %d", name, max)
	}
	s, err := q.subscription(name, "pull")
	if err != nil {
		return nil, err
	}
	var timer leaseTimer
	ds, err := q.lease(ctx, s, max, nil, &timer, 0, time.Now().Add(PullWait))
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 && ctx.Err() != nil {
		return nil, errclass.Wrap(errclass.Retryable, ctx.Err(), "memqueue: pull from "+name)
	}
	out := make([]queue.Pulled, len(ds))
	for i, d := range ds {
		out[i] = queue.Pulled{AckID: d.msg.ID + ":" + strconv.Itoa(d.gen), Message: d.msg}
	}
	return out, nil
}

// Ack acknowledges deliveries; see queue.Puller.
func (q *Queue) Ack(ctx context.Context, name string, ackIDs ...string) error {
	return q.eachDelivery(ctx, name, "ack", ackIDs, func(s *subscription, e *entry, gen int) {
		q.settleLocked(s, e, gen, true)
	})
}

// Nack ends deliveries like Message.Nack; see queue.Puller.
func (q *Queue) Nack(ctx context.Context, name string, ackIDs ...string) error {
	return q.eachDelivery(ctx, name, "nack", ackIDs, func(s *subscription, e *entry, gen int) {
		q.settleLocked(s, e, gen, false)
	})
}

// ExtendDeadline makes the leases of deliveries end d from now; see
// queue.Puller. Unlike Pub/Sub it takes durations below a second. A lease
// that already expired is not extended: its delivery has failed.
func (q *Queue) ExtendDeadline(ctx context.Context, name string, d time.Duration, ackIDs ...string) error {
	if d <= 0 || d > queue.MaxLease {
		return errclass.New(errclass.Permanent, "memqueue: extend deadline on %s: %s is not in (0, %s]", name, d, queue.MaxLease)
	}
	return q.eachDelivery(ctx, name, "extend deadline", ackIDs, func(s *subscription, e *entry, gen int) {
		if e.gen == gen && e.leased {
			e.leaseUntil = time.Now().Add(d)
			s.notify() // a shorter lease wakes waiting receivers earlier
		}
	})
}

// eachDelivery calls f, under the lock and after expiring leases, for each
// ack id of subscription name whose message is still in the subscription.
// A malformed ack id is errclass.Permanent and nothing is done.
func (q *Queue) eachDelivery(ctx context.Context, name, op string, ackIDs []string, f func(s *subscription, e *entry, gen int)) error {
	type ref struct {
		id  string
		gen int
	}
	refs := make([]ref, len(ackIDs))
	for i, a := range ackIDs {
		id, g, ok := strings.Cut(a, ":")
		gen, err := strconv.Atoi(g)
		if !ok || err != nil || id == "" {
			return errclass.New(errclass.Permanent, "memqueue: %s on %s: malformed ack id %q", op, name, a)
		}
		refs[i] = ref{id, gen}
	}
	if err := q.lock(ctx); err != nil {
		return err
	}
	defer q.mu.Unlock()
	if len(refs) == 0 {
		return nil
	}
	s := q.subs[name]
	if s == nil {
		return errclass.New(errclass.NotFound, "memqueue: %s: subscription %q not found", op, name)
	}
	q.expireLocked(time.Now())
	byID := make(map[string]*entry, len(s.entries))
	for _, e := range s.entries {
		byID[e.id] = e
	}
	for _, r := range refs {
		if e := byID[r.id]; e != nil {
			f(s, e, r.gen)
		}
	}
	return nil
}
