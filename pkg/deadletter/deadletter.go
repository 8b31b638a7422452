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
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
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
// subscription and publish to the original topic.
type Queue interface {
	queue.Publisher
	queue.Subscriber
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
		Topic:              OriginTopic(subscription, m.Attributes),
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

// OriginTopic returns the topic a dead letter of dlqSubscription came from:
// the topic of its source subscription when that is one of AIPROD's
// (aiprod-router → aiprod-jobs, aiprod-worker-<b> → aiprod-dispatch-<b>,
// aiprod-notifier → aiprod-events), else dlqSubscription's id without the
// -dlq suffix (the topology names a dead-letter subscription after its
// topic, <topic>-dlq).
func OriginTopic(dlqSubscription string, attrs map[string]string) string {
	switch src := sourceSubscription(attrs); {
	case src == queue.SubscriptionRouter:
		return queue.TopicJobs
	case src == queue.SubscriptionEvents:
		return queue.TopicEvents
	case strings.HasPrefix(src, queue.WorkerSubscription("")) && len(src) > len(queue.WorkerSubscription("")):
		return queue.DispatchTopic(strings.TrimPrefix(src, queue.WorkerSubscription("")))
	}
	return strings.TrimSuffix(lastSegment(dlqSubscription), queue.DeadLetterSuffix)
}

// ReplayAttributes returns a copy of a dead letter's attributes without
// those dead-lettering added: reason, source_subscription and every
// CloudPubSubDeadLetter* attribute. Trace context and the job's attributes
// stay.
func ReplayAttributes(attrs map[string]string) map[string]string {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if k == queue.AttrReason || k == queue.AttrSourceSub || strings.HasPrefix(k, PubSubAttrPrefix) {
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
// received, recorded and, once the listing is complete, nacked. It returns
// when max messages are held, when no new message arrived for wait (0:
// WaitDefault), or when ctx is done (then with what it has and ctx's
// error, classified retryable). See the package doc for what listing does
// to delivery counts. subscription must end in -dlq (errclass.Permanent);
// a missing one is errclass.NotFound.
func List(ctx context.Context, q queue.Subscriber, subscription string, max int, wait time.Duration) ([]Letter, error) {
	wait, err := checkArgs(subscription, max, wait)
	if err != nil {
		return nil, err
	}
	var out []Letter
	err = scan(ctx, q, subscription, max, wait, func(m *queue.Message) bool {
		out = append(out, letterOf(subscription, m))
		return false
	}, nil)
	sortLetters(out)
	return out, err
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
}

// replayConcurrency bounds the publishes of one Replay running at once.
const replayConcurrency = 16

// Replay republishes messages of the dead-letter subscription subscription
// to the topics they came from (OriginTopic), with ReplayAttributes, and
// acks each one once its publish succeeded. With ids empty it replays every
// message it receives, up to max; with ids it replays only those, examining
// at most max messages and stopping early once it found them all. wait and
// ctx bound the pulling as they bound List.
//
// Replay pulls first and publishes after: every message it examines is
// held until the pulling is over, then the selected ones are published and
// acked and the others nacked. So a poison message that its consumer
// dead-letters again at once comes back as a new message only after the
// pulling ended, and one Replay never replays it twice. A failed publish
// nacks that message (and the ones not published yet) and ends the replay
// with the error; what was replayed before is in the result.
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
		selected []*queue.Message
		res      ReplayResult
		found    = map[string]bool{}
	)
	collect := func(m *queue.Message) bool {
		if len(want) > 0 {
			if !want[m.ID] {
				return false
			}
			found[m.ID] = true
		}
		selected = append(selected, m)
		return len(want) > 0 && len(found) == len(want)
	}
	replay := func(ctx context.Context) error {
		var (
			mu       sync.Mutex
			wg       sync.WaitGroup
			firstErr error
		)
		sem := make(chan struct{}, replayConcurrency)
		for _, m := range selected {
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
				l := letterOf(subscription, m)
				_, err := q.Publish(ctx, l.Topic, queue.Message{Data: m.Data, Attributes: ReplayAttributes(m.Attributes)})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("deadletter: replay message %s of %s to %s: %w", m.ID, subscription, l.Topic, err)
					}
					return // nacked with the others at the end of the scan
				}
				m.Ack()
				res.Replayed = append(res.Replayed, l)
			})
		}
		wg.Wait()
		return firstErr
	}
	err = scan(ctx, q, subscription, max, wait, collect, replay)
	sortLetters(res.Replayed)
	for _, id := range ids {
		if !found[id] && !slices.Contains(res.NotFound, id) {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, err
}

func sortLetters(ls []Letter) {
	slices.SortStableFunc(ls, func(a, b Letter) int {
		if c := a.PublishTime.Compare(b.PublishTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// collectFunc records one newly received message (each distinct message
// once, never concurrently) and reports whether the scan has all it needs.
type collectFunc func(m *queue.Message) (stop bool)

// thenFunc runs once the pulling of a scan is over, while every collected
// message is still held; it may Ack or Nack them. Its ctx is scan's.
type thenFunc func(ctx context.Context) error

// scan receives from subscription and collects each distinct message, up
// to max, holding all of them. The pulling ends when max messages were
// collected, collect asks to stop, no new message arrived for wait, or ctx
// is done. Then then (if not nil) runs, and every message it did not
// settle is nacked. scan returns then's error, else a receive error, else
// ctx's. A *gcppubsub.Queue is read with unary Pull (pullScan), anything
// else with Receive (streamScan).
func scan(ctx context.Context, q queue.Subscriber, subscription string, max int, wait time.Duration, collect collectFunc, then thenFunc) error {
	if then == nil {
		then = func(context.Context) error { return nil }
	}
	if ps, ok := q.(*gcppubsub.Queue); ok {
		return pullScan(ctx, ps, subscription, max, wait, collect, then)
	}
	return streamScan(ctx, q, subscription, max, wait, collect, then)
}

// streamScan is scan over Receive. It is exact for memqueue, whose nacks
// take effect at once. Over a streaming pull, a message the server sends to
// a stream that is closing is lost to that stream and comes back only when
// its lease expires, which is why pullScan exists.
func streamScan(ctx context.Context, q queue.Subscriber, subscription string, max int, wait time.Duration, collect collectFunc, then thenFunc) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu        sync.Mutex
		seen      = map[string]bool{}
		collected int
		closed    bool // no more collecting
	)
	release := make(chan struct{})     // closed when the scan ends: held messages are nacked
	activity := make(chan struct{}, 1) // a new message was collected
	finished := make(chan struct{})    // closed when max is reached or collect stops
	var finishOnce sync.Once
	finish := func() { finishOnce.Do(func() { close(finished) }) }

	h := func(hctx context.Context, m *queue.Message) {
		mu.Lock()
		if closed || seen[m.ID] || collected >= max {
			mu.Unlock()
			m.Nack() // a duplicate delivery, or one past the end
			return
		}
		seen[m.ID] = true
		collected++
		if collect(m) || collected >= max {
			finish()
		}
		mu.Unlock()
		select {
		case activity <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-hctx.Done():
		}
		m.Nack() // no effect when then acked it
	}

	errc := make(chan error, 1)
	go func() {
		errc <- q.Receive(rctx, subscription, queue.ReceiveOptions{MaxOutstanding: max}, h)
	}()

	idle := time.NewTimer(wait)
	defer idle.Stop()
	var recvErr error
	returned := false
loop:
	for {
		select {
		case <-activity:
			idle.Reset(wait)
		case <-finished:
			break loop
		case <-idle.C:
			break loop
		case <-ctx.Done():
			break loop
		case recvErr = <-errc:
			returned = true
			break loop
		}
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	var thenErr error
	if !returned {
		thenErr = then(ctx)
	}
	close(release)
	cancel()
	if !returned {
		recvErr = <-errc
	}

	switch {
	case thenErr != nil:
		return thenErr
	case recvErr != nil:
		return fmt.Errorf("deadletter: receive from %s: %w", subscription, recvErr)
	case ctx.Err() != nil:
		return errclass.Wrap(errclass.Retryable, ctx.Err(), "deadletter: "+subscription)
	}
	return nil
}
