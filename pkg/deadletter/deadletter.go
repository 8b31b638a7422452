package deadletter

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// Attributes Pub/Sub adds to a message it dead-letters itself. Every
// attribute starting with PubSubAttrPrefix is dropped on replay.
const (
	PubSubAttrPrefix              = "CloudPubSubDeadLetter"
	PubSubAttrSourceSubscription  = "CloudPubSubDeadLetterSourceSubscription"
	PubSubAttrSourceDeliveryCount = "CloudPubSubDeadLetterSourceDeliveryCount"
)

// Limits and defaults of List and Replay.
const (
	// WaitDefault is how long List and Replay wait for a next message
	// before deciding the subscription has no more.
	WaitDefault = 2 * time.Second
	// MaxLimit is the most messages one call examines.
	MaxLimit = 1000
)

// ReasonExhausted is the Reason of a message that carries no reason
// attribute: Pub/Sub (or memqueue) dead-lettered it after the source
// subscription's max delivery attempts.
const ReasonExhausted = "max delivery attempts exceeded"

// Queue is what Replay needs of a queue: pull from the dead-letter
// subscription and publish to the original topic. Every queue.Queue is one.
type Queue interface {
	queue.Puller
	queue.Publisher
}

// Letter is one dead-lettered message as listed.
type Letter struct {
	// ID is the message's id on the dead-letter topic; Replay takes it.
	ID string
	// Subscription is the dead-letter subscription it was read from.
	Subscription string
	Data         []byte
	// Attributes are all of the message's attributes, reason and
	// source_subscription included.
	Attributes map[string]string
	// Reason is the reason attribute, or ReasonExhausted (with the delivery
	// count when known) for a message Pub/Sub dead-lettered.
	Reason string
	// SourceSubscription is the subscription it failed on, when known.
	SourceSubscription string
	// Topic is where Replay publishes it (see OriginTopic).
	Topic string
	// PublishTime is when it was published to the dead-letter topic.
	PublishTime time.Time
	// DeliveryAttempt is how many deliveries it had on its source
	// subscription before Pub/Sub dead-lettered it; 0 when unknown (a
	// message a service dead-lettered itself, or memqueue).
	DeliveryAttempt int
}

// letterOf describes a received dead letter of subscription.
func letterOf(subscription string, m *queue.Message) Letter {
	l := Letter{
		ID:                 m.ID,
		Subscription:       subscription,
		Data:               slices.Clone(m.Data),
		Attributes:         maps.Clone(m.Attributes),
		SourceSubscription: sourceSubscription(m.Attributes),
		Topic:              OriginTopic(subscription),
		PublishTime:        m.PublishTime,
	}
	if l.Attributes == nil {
		l.Attributes = map[string]string{}
	}
	if n, err := strconv.Atoi(m.Attributes[PubSubAttrSourceDeliveryCount]); err == nil && n > 0 {
		l.DeliveryAttempt = n
	}
	switch r := m.Attributes[queue.AttrReason]; {
	case r != "":
		l.Reason = r
	case l.DeliveryAttempt > 0:
		l.Reason = fmt.Sprintf("%s (%d deliveries)", ReasonExhausted, l.DeliveryAttempt)
	default:
		l.Reason = ReasonExhausted
	}
	return l
}

// sourceSubscription returns the subscription id a dead letter failed on:
// the source_subscription attribute of queue.DeadLetter, else Pub/Sub's
// CloudPubSubDeadLetterSourceSubscription; "" when neither is set.
func sourceSubscription(attrs map[string]string) string {
	return lastSegment(cmp.Or(attrs[queue.AttrSourceSub], attrs[PubSubAttrSourceSubscription]))
}

// lastSegment turns "projects/p/subscriptions/s" into "s".
func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// OriginTopic returns the topic the dead letters of dlqSubscription came
// from: its id without the -dlq suffix (the topology names a dead-letter
// subscription after its topic, <topic>-dlq, the dead-letter topic of every
// subscription of <topic>). The message's attributes do not decide it: a
// publisher may set source_subscription or CloudPubSubDeadLetter*
// attributes, and a replay must never move a message to another topic
// (such as a job request published to aiprod-jobs onto a dispatch topic).
func OriginTopic(dlqSubscription string) string {
	return strings.TrimSuffix(lastSegment(dlqSubscription), queue.DeadLetterSuffix)
}

// ReplayAttributes returns a copy of a dead letter's attributes without
// those dead-lettering added: reason, source_subscription, panic and every
// CloudPubSubDeadLetter* attribute. Trace context and the job's attributes
// stay.
func ReplayAttributes(attrs map[string]string) map[string]string {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if k == queue.AttrReason || k == queue.AttrSourceSub || k == queue.AttrPanic || strings.HasPrefix(k, PubSubAttrPrefix) {
			continue
		}
		out[k] = v
	}
	return out
}

// checkArgs validates the arguments common to List and Replay and returns
// the effective wait.
func checkArgs(subscription string, max int, wait time.Duration) (time.Duration, error) {
	if !strings.HasSuffix(subscription, queue.DeadLetterSuffix) {
		return 0, errclass.New(errclass.Permanent,
			"deadletter: %q is not a dead-letter subscription (its name must end in %s)", subscription, queue.DeadLetterSuffix)
	}
	if max < 1 || max > MaxLimit {
		return 0, errclass.New(errclass.Permanent, "deadletter: max must be 1..%d, got %d", MaxLimit, max)
	}
	if wait <= 0 {
		wait = WaitDefault
	}
	return wait, nil
}

// List returns up to max messages of the dead-letter subscription
// subscription, ordered by publish time, without consuming them: each is
// pulled, recorded and, once the listing is complete, nacked. It returns
// when max messages are held, when a pull answers none or no new message
// arrived for wait (0: WaitDefault), or when ctx is done (then with what it
// has and ctx's error, classified retryable). See the package doc for what
// listing does to delivery counts. subscription must end in -dlq
// (errclass.Permanent); a missing one is errclass.NotFound.
func List(ctx context.Context, q queue.Puller, subscription string, max int, wait time.Duration) ([]Letter, error) {
	wait, err := checkArgs(subscription, max, wait)
	if err != nil {
		return nil, err
	}
	h := &hold{q: q, sub: subscription}
	err = h.pull(ctx, max, wait, func(queue.Pulled) bool { return false })
	out := make([]Letter, 0, len(h.msgs))
	for _, p := range h.msgs {
		out = append(out, letterOf(subscription, &p.Message))
	}
	h.release(ctx, nil)
	sortLetters(out)
	return out, h.result(ctx, err)
}

// ReplayResult is what Replay did.
type ReplayResult struct {
	// Replayed are the messages republished (and acked on the dead-letter
	// subscription), ordered by publish time; each one's Topic says where
	// it went.
	Replayed []Letter
	// NotFound are the ids asked for that were not among the messages
	// examined: absent, already replayed, held by a concurrent listing, or
	// waiting out the subscription's retry backoff after a recent listing.
	NotFound []string
	// RequestID names the replay request of a Remote.Replay ("" for a
	// Replay done here).
	RequestID string
	// Pending reports a Remote.Replay whose request was queued but whose
	// outcome did not come in time: nothing is known of it yet (Replayed
	// and NotFound are empty), and it will be carried out.
	Pending bool
}

// replayConcurrency bounds the publishes of one Replay running at once.
const replayConcurrency = 16

// Replay republishes messages of the dead-letter subscription subscription
// to the topics they came from (OriginTopic), with ReplayAttributes, and
// acks each one once its publish succeeded. With ids empty it replays every
// message it pulls, up to max; with ids it replays only those, examining at
// most max messages and stopping early once it found them all. wait and ctx
// bound the pulling as they bound List.
//
// Replay pulls first and publishes after: every message it examines is
// held until the pulling is over, then the selected ones are published and
// acked and the others nacked. So a poison message that its consumer
// dead-letters again at once comes back as a new message only after the
// pulling ended, and one Replay never replays it twice. A failed publish
// nacks that message (and the ones not published yet) and ends the replay
// with the error; what was replayed before is in the result. When ctx ends
// during the pulling nothing is published.
func Replay(ctx context.Context, q Queue, subscription string, ids []string, max int, wait time.Duration) (ReplayResult, error) {
	wait, err := checkArgs(subscription, max, wait)
	if err != nil {
		return ReplayResult{}, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		if id == "" {
			return ReplayResult{}, errclass.New(errclass.Permanent, "deadletter: empty message id")
		}
		want[id] = true
	}
	var (
		h        = &hold{q: q, sub: subscription}
		selected []queue.Pulled
		found    = map[string]bool{}
	)
	err = h.pull(ctx, max, wait, func(p queue.Pulled) bool {
		if len(want) > 0 {
			if !want[p.Message.ID] {
				return false
			}
			found[p.Message.ID] = true
		}
		selected = append(selected, p)
		return len(want) > 0 && len(found) == len(want)
	})
	var (
		res   ReplayResult
		acked map[string]bool
	)
	if err == nil && ctx.Err() == nil {
		res.Replayed, acked, err = republish(ctx, q, subscription, selected)
	}
	h.release(ctx, acked)
	sortLetters(res.Replayed)
	for _, id := range ids {
		if !found[id] && !slices.Contains(res.NotFound, id) {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, h.result(ctx, err)
}

// republish publishes each of msgs, dead letters of subscription, to its
// origin topic, replayConcurrency at once, and stops starting publishes
// after the first failure. It returns what it replayed, the ack ids of those
// messages and the first error.
func republish(ctx context.Context, q queue.Publisher, subscription string, msgs []queue.Pulled) ([]Letter, map[string]bool, error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		replayed []Letter
		acked    = map[string]bool{}
		firstErr error
	)
	sem := make(chan struct{}, replayConcurrency)
	for _, p := range msgs {
		sem <- struct{}{}
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			m := p.Message
			l := letterOf(subscription, &m)
			_, err := q.Publish(ctx, l.Topic, queue.Message{Data: m.Data, Attributes: ReplayAttributes(m.Attributes)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("deadletter: replay message %s of %s to %s: %w", m.ID, subscription, l.Topic, err)
				}
				return // nacked with the others on release
			}
			acked[p.AckID] = true
			replayed = append(replayed, l)
		})
	}
	wg.Wait()
	return replayed, acked, firstErr
}

func sortLetters(ls []Letter) {
	slices.SortStableFunc(ls, func(a, b Letter) int {
		if c := a.PublishTime.Compare(b.PublishTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
