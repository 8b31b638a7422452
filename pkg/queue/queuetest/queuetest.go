// Package queuetest is the conformance suite of queue.Queue. Every
// implementation runs it: memqueue in every test run, gcppubsub against the
// project's Pub/Sub emulator (pkg/emulator/pubsub) in every test run and,
// when PUBSUB_EMULATOR_HOST names one, against another emulator such as
// Google's.
//
// # What it asserts
//
// Only what real Pub/Sub guarantees and every implementation provides:
// provisioning is idempotent; data and attributes arrive intact; topics fan
// out; ack stops redelivery; nack redelivers with a growing DeliveryAttempt,
// and so does a handler that returns without Ack or Nack;
// a message is dead-lettered after the subscription's max delivery attempts;
// queue.DeadLetter adds its reason; Receive respects MaxOutstanding, returns
// nil on cancellation only after its handlers returned, and what was not
// acked is delivered again; concurrent publishers lose nothing; missing topics
// and subscriptions are errclass.NotFound; CheckTopic tells an existing topic
// from a missing one and fails on a done ctx or a closed queue.
//
// Of queue.Puller (pull.go): Pull returns published messages with their
// attributes, a first DeliveryAttempt of 1 and distinct ack ids; Ack
// removes; Nack delivers again with the next DeliveryAttempt and a new ack
// id, and after the max delivery attempts dead-letters; a lease set with
// ExtendDeadline and left alone expires (not before its end) and the message
// comes again; extending it again and again keeps it from everyone past its
// first end; Pull on an empty subscription answers none before its ctx ends;
// a missing subscription is errclass.NotFound and invalid arguments
// errclass.Permanent. The lease cases use leases of whole seconds, as
// Pub/Sub does.
//
// It does not assert the retry backoff, whose timing differs between
// implementations (Google's emulator waits about 2 s after the first nack
// with a 10 ms minimum backoff), nor the expiry of a lease of the subscription's ack deadline,
// because Pub/Sub's shortest ack deadline is 10s (the Pull cases shorten
// leases with ExtendDeadline instead). Implementations test those
// themselves. It asserts DeliveryAttempt only on subscriptions with a
// dead-letter policy, the only ones on which Pub/Sub sets it, and never on
// a topic with two such subscriptions (pstest, the emulator this suite was
// first run against, counted deliveries per message across the
// subscriptions of its topic). Dead-lettering may happen when the
// subscription is next read rather than at the last failed delivery
// (Google's emulator does so with unary Pull): the cases keep reading. It
// tolerates duplicate deliveries.
//
// The suite never sleeps to wait: it waits on channels or polls with a
// deadline. The negative assertions watch for a bounded time: no more than
// MaxOutstanding handler calls at once for 100ms, and no redelivery of a
// message whose lease is being extended for 1.5 leases (3s).
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// Timeout bounds every wait of the suite; a case as a whole gets four times
// as long. A passing case takes a small fraction of it, except when Pub/Sub
// sent a message to a stream that was shutting down: then the message comes
// back only after the stream's ack deadline (10s).
const Timeout = 15 * time.Second

// Subscription settings of the suite. MaxDeliveryAttempts is Pub/Sub's
// minimum; AckDeadline is Pub/Sub's minimum; the backoff is short so that
// implementations that honour it run fast.
const (
	MaxDeliveryAttempts = 5
	AckDeadline         = 10 * time.Second
	MinBackoff          = 10 * time.Millisecond
	MaxBackoff          = 50 * time.Millisecond
)

// Run runs the conformance suite against the queues newQueue returns. Each
// case calls newQueue once, uses names no other case uses, and closes the
// queue when it ends; newQueue may register further cleanup with t.Cleanup
// (it runs after the queue is closed). Cases run in parallel.
func Run(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b *bundle)
	}{
		{"ProvisionIdempotent", testProvisionIdempotent},
		{"PublishReceive", testPublishReceive},
		{"FanOut", testFanOut},
		{"FilteredSubscription", testFilteredSubscription},
		{"NotDeliveredBeforeSubscription", testNotDeliveredBeforeSubscription},
		{"AckStopsRedelivery", testAckStopsRedelivery},
		{"NackRedelivers", testNackRedelivers},
		{"ReturnWithoutAckRedelivers", testReturnWithoutAck},
		{"DeadLetterAfterMaxAttempts", testDeadLetterAfterMaxAttempts},
		{"DeadLetterHelper", testDeadLetterHelper},
		{"FlowControl", testFlowControl},
		{"CancelWaitsForHandlersAndRedelivers", testCancel},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"PublishMissingTopic", testPublishMissingTopic},
		{"ReceiveMissingSubscription", testReceiveMissingSubscription},
		{"SubscriptionMissingTopic", testSubscriptionMissingTopic},
		{"CheckTopic", testCheckTopic},
		{"PullPublished", testPullPublished},
		{"PullAckRemoves", testPullAck},
		{"PullNackRedelivers", testPullNack},
		{"PullDeadLetterAfterMaxAttempts", testPullDeadLetter},
		{"PullLeaseExpires", testPullLeaseExpires},
		{"PullExtendKeepsLease", testPullExtend},
		{"PullEmpty", testPullEmpty},
		{"PullMissingSubscription", testPullMissingSubscription},
		{"PullInvalidArguments", testPullInvalidArguments},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, setup(t, newQueue))
		})
	}
}

// bundle is what every case starts with.
type bundle struct {
	q      queue.Queue
	ctx    context.Context // canceled after 4·Timeout
	prefix string          // unique per case
}

func setup(t *testing.T, newQueue func(t *testing.T) queue.Queue) *bundle {
	q := newQueue(t)
	t.Cleanup(func() { assert.NoError(t, q.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*Timeout)
	t.Cleanup(cancel)
	return &bundle{q: q, ctx: ctx, prefix: fmt.Sprintf("qt%08x", rand.Uint32())}
}

// name returns a topic or subscription name unique to the case.
func (b *bundle) name(s string) string { return b.prefix + "-" + s }

// topic creates a topic named b.name(s) and returns its name.
func (b *bundle) topic(t *testing.T, s string) string {
	t.Helper()
	n := b.name(s)
	require.NoError(t, b.q.EnsureTopic(b.ctx, n))
	return n
}

// sub creates a subscription of topic without dead-letter policy.
func (b *bundle) sub(t *testing.T, s, topic string) string {
	t.Helper()
	cfg := queue.SubscriptionConfig{
		Name: b.name(s), Topic: topic, AckDeadline: AckDeadline,
		MinBackoff: MinBackoff, MaxBackoff: MaxBackoff,
	}
	require.NoError(t, b.q.EnsureSubscription(b.ctx, cfg))
	return cfg.Name
}

// dlqSub creates a subscription of topic with dead-letter topic dlq.
func (b *bundle) dlqSub(t *testing.T, s, topic, dlq string) string {
	t.Helper()
	cfg := queue.SubscriptionConfig{
		Name: b.name(s), Topic: topic, AckDeadline: AckDeadline,
		DeadLetterTopic: dlq, MaxDeliveryAttempts: MaxDeliveryAttempts,
		MinBackoff: MinBackoff, MaxBackoff: MaxBackoff,
	}
	require.NoError(t, b.q.EnsureSubscription(b.ctx, cfg))
	return cfg.Name
}

func (b *bundle) publish(t *testing.T, topic string, data string, attrs map[string]string) string {
	t.Helper()
	id, err := b.q.Publish(b.ctx, topic, queue.Message{Data: []byte(data), Attributes: attrs})
	require.NoError(t, err)
	require.NotEmpty(t, id)
	return id
}

// receiver is one Receive call running in the background.
type receiver struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Receive returned
	err    error         // valid after done
}

// receive starts Receive; the case's cleanup stops it.
func (b *bundle) receive(t *testing.T, sub string, opts queue.ReceiveOptions, h queue.Handler) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	r := &receiver{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = b.q.Receive(ctx, sub, opts, h)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(Timeout):
			t.Errorf("Receive(%s) did not return within %s of cancellation", sub, Timeout)
		}
	})
	return r
}

// stop cancels Receive and returns its error once it returned.
func (r *receiver) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(Timeout):
		t.Fatalf("Receive did not return within %s of cancellation", Timeout)
		return nil
	}
}

// wait returns the next value of ch, failing the test if Receive r returns
// first or nothing comes within Timeout.
func wait[T any](t *testing.T, r *receiver, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-r.done:
		t.Fatalf("Receive returned early: %v", r.err)
	case <-time.After(Timeout):
		t.Fatalf("nothing received within %s", Timeout)
	}
	var zero T
	return zero
}

// collect is a handler that acks every message and sends it on the returned
// channel (buffered for n), or drops it once Receive stops.
func collect(n int) (queue.Handler, <-chan *queue.Message) {
	ch := make(chan *queue.Message, n)
	return func(ctx context.Context, m *queue.Message) {
		m.Ack()
		select {
		case ch <- m:
		case <-ctx.Done():
		}
	}, ch
}

// signal sends on ch unless that would block.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Delivery is at least once, so cases tolerate duplicate deliveries: handlers
// never block on them and never fail the test because of them.

func testProvisionIdempotent(t *testing.T, b *bundle) {
	backends := []string{b.prefix + "a", b.prefix + "b"}
	topo := queue.Topology(backends)
	require.NoError(t, queue.Provision(b.ctx, b.q, topo))
	require.NoError(t, queue.Provision(b.ctx, b.q, topo), "second Provision")

	// Everything exists: each subscription gets what its topic is sent.
	for _, s := range topo {
		if s.DeadLetterTopic == "" || s.Topic == queue.TopicJobs || s.Topic == queue.TopicEvents || s.Topic == queue.TopicDLQReplay {
			continue // shared names: other runs may publish there
		}
		for _, sub := range []string{s.Name, s.DeadLetterTopic} {
			topic := s.Topic
			if sub == s.DeadLetterTopic {
				topic = s.DeadLetterTopic
			}
			id := b.publish(t, topic, "provisioned", nil)
			h, ch := collect(1)
			r := b.receive(t, sub, queue.ReceiveOptions{}, h)
			m := wait(t, r, ch)
			assert.Equal(t, id, m.ID, "subscription %s", sub)
			require.NoError(t, r.stop(t))
		}
	}

	// Ensure on existing names is fine too, even with another configuration.
	topic := b.topic(t, "t")
	require.NoError(t, b.q.EnsureTopic(b.ctx, topic))
	b.sub(t, "s", topic)
	b.sub(t, "s", topic)
	require.NoError(t, b.q.EnsureSubscription(b.ctx, queue.SubscriptionConfig{
		Name: b.name("s"), Topic: topic, AckDeadline: 2 * AckDeadline,
	}))
}

func testPublishReceive(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	data := "\x00\x01binary\xff payload"
	attrs := map[string]string{
		queue.AttrJobID:       "job-1",
		queue.AttrProjectID:   "dev",
		queue.AttrTraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"unicode":             "vidéo ✓",
	}
	before := time.Now()
	id := b.publish(t, topic, data, attrs)

	h, ch := collect(1)
	r := b.receive(t, sub, queue.ReceiveOptions{}, h)
	m := wait(t, r, ch)
	require.NoError(t, r.stop(t))

	assert.Equal(t, id, m.ID)
	assert.Equal(t, []byte(data), m.Data)
	assert.Equal(t, attrs, m.Attributes)
	assert.Equal(t, "job-1", m.Attr(queue.AttrJobID))
	assert.Contains(t, []int{0, 1}, m.DeliveryAttempt, "first delivery")
	assert.WithinRange(t, m.PublishTime, before.Add(-time.Minute), time.Now().Add(time.Minute))

	// Only attributes is fine too.
	id = b.publish(t, topic, "", map[string]string{queue.AttrJobID: "job-2"})
	r = b.receive(t, sub, queue.ReceiveOptions{}, h)
	m = wait(t, r, ch)
	assert.Equal(t, id, m.ID)
	assert.Empty(t, m.Data)
	assert.Equal(t, "job-2", m.Attr(queue.AttrJobID))
}

func testFanOut(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	subs := []string{b.sub(t, "s1", topic), b.sub(t, "s2", topic)}
	want := map[string]string{}
	for i := range 3 {
		data := "m" + strconv.Itoa(i)
		want[b.publish(t, topic, data, nil)] = data
	}
	for _, sub := range subs {
		h, ch := collect(10)
		r := b.receive(t, sub, queue.ReceiveOptions{}, h)
		got := map[string]string{}
		for len(got) < len(want) {
			m := wait(t, r, ch)
			got[m.ID] = string(m.Data)
		}
		require.NoError(t, r.stop(t))
		assert.Equal(t, want, got, "subscription %s", sub)
	}
}

// A subscription with a filter gets the messages it matches, and only
// those (queue.FilterLifecycle: no event_type attribute); another
// subscription of the topic gets every one; a filter Pub/Sub would refuse
// is refused.
func testFilteredSubscription(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	all := b.sub(t, "all", topic)
	cfg := queue.SubscriptionConfig{Name: b.name("lifecycle"), Topic: topic, AckDeadline: AckDeadline,
		MinBackoff: MinBackoff, MaxBackoff: MaxBackoff, Filter: queue.FilterLifecycle}
	require.NoError(t, b.q.EnsureSubscription(b.ctx, cfg))
	b.publish(t, topic, "ledger", map[string]string{queue.AttrEventType: queue.EventTypeLedgerEntry})
	kept := b.publish(t, topic, "lifecycle", map[string]string{"job_id": "j"})
	b.publish(t, topic, "circuit", map[string]string{queue.AttrEventType: "backend_circuit"})
	last := b.publish(t, topic, "lifecycle 2", nil)

	h, ch := collect(10)
	r := b.receive(t, cfg.Name, queue.ReceiveOptions{}, h)
	got := []string{wait(t, r, ch).ID, wait(t, r, ch).ID}
	require.NoError(t, r.stop(t))
	assert.ElementsMatch(t, []string{kept, last}, got, "only the messages without event_type")
	select {
	case m := <-ch:
		t.Fatalf("filtered subscription got %q", m.Data)
	default:
	}
	h, ch = collect(10)
	r = b.receive(t, all, queue.ReceiveOptions{}, h)
	for range 4 {
		wait(t, r, ch)
	}
	require.NoError(t, r.stop(t))

	bad := queue.SubscriptionConfig{Name: b.name("bad"), Topic: topic, AckDeadline: AckDeadline, Filter: "attributes.x = unquoted"}
	require.Error(t, b.q.EnsureSubscription(b.ctx, bad))
}

func testNotDeliveredBeforeSubscription(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	first := b.sub(t, "first", topic)
	early := b.publish(t, topic, "early", nil)
	late := b.sub(t, "late", topic)
	after := b.publish(t, topic, "after", nil)

	h, ch := collect(10)
	r := b.receive(t, late, queue.ReceiveOptions{}, h)
	var got []string
	for !slices.Contains(got, after) {
		got = append(got, wait(t, r, ch).ID)
	}
	require.NoError(t, r.stop(t))
	assert.NotContains(t, got, early)

	// The existing subscription gets both.
	r = b.receive(t, first, queue.ReceiveOptions{}, h)
	got = nil
	for !slices.Contains(got, early) || !slices.Contains(got, after) {
		got = append(got, wait(t, r, ch).ID)
	}
}

func testAckStopsRedelivery(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	acked := b.publish(t, topic, "acked", nil)

	h, ch := collect(1)
	r := b.receive(t, sub, queue.ReceiveOptions{}, h)
	require.Equal(t, acked, wait(t, r, ch).ID)
	require.NoError(t, r.stop(t))

	// Receive again until a marker has been nacked twice and acked: the acked
	// message must not come back in the meantime.
	marker := b.publish(t, topic, "marker", nil)
	var (
		mu   sync.Mutex
		seen []string
	)
	markerDone := make(chan struct{})
	r = b.receive(t, sub, queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m.ID)
		if m.ID != marker {
			m.Ack()
			return
		}
		if n := count(seen, marker); n < 3 {
			m.Nack()
			return
		} else if n == 3 {
			close(markerDone)
		}
		m.Ack()
	})
	wait(t, r, markerDone)
	require.NoError(t, r.stop(t))
	mu.Lock()
	defer mu.Unlock()
	assert.NotContains(t, seen, acked, "an acked message was delivered again")
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func testNackRedelivers(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	dlq := b.topic(t, "t-dlq")
	// DeliveryAttempt is only set by Pub/Sub on subscriptions with a
	// dead-letter policy.
	sub := b.dlqSub(t, "s", topic, dlq)
	id := b.publish(t, topic, "again", map[string]string{"k": "v"})

	var (
		mu       sync.Mutex
		attempts []int
	)
	done := make(chan struct{}, 1)
	r := b.receive(t, sub, queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, id, m.ID)
		assert.Equal(t, "again", string(m.Data))
		assert.Equal(t, map[string]string{"k": "v"}, m.Attributes)
		attempts = append(attempts, m.DeliveryAttempt)
		if m.DeliveryAttempt < 3 {
			m.Nack()
			return
		}
		m.Ack()
		signal(done)
	})
	wait(t, r, done)
	require.NoError(t, r.stop(t))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, attempts)
	assert.Equal(t, 1, attempts[0], "first delivery")
	assert.IsNonDecreasing(t, attempts)
	assert.Equal(t, 3, attempts[len(attempts)-1])
}

func testReturnWithoutAck(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	dlq := b.topic(t, "t-dlq")
	sub := b.dlqSub(t, "s", topic, dlq)
	b.publish(t, topic, "forgotten", nil)

	// A handler that returns without Ack or Nack counts as a Nack: the
	// message comes again soon, not after the ack deadline or MaxExtension.
	var (
		mu       sync.Mutex
		attempts []int
	)
	done := make(chan struct{}, 1)
	r := b.receive(t, sub, queue.ReceiveOptions{MaxOutstanding: 1}, func(_ context.Context, m *queue.Message) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, m.DeliveryAttempt)
		if m.DeliveryAttempt >= 2 {
			m.Ack()
			signal(done)
		}
	})
	wait(t, r, done)
	require.NoError(t, r.stop(t), "Receive must not wait for the unsettled message")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{1, 2}, attempts[:2])
}

func testDeadLetterAfterMaxAttempts(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	dlq := b.topic(t, "t-dlq")
	sub := b.dlqSub(t, "s", topic, dlq)
	dlqSub := b.sub(t, "dlq", dlq)
	attrs := map[string]string{queue.AttrJobID: "job-1", queue.AttrProjectID: "dev"}
	b.publish(t, topic, "poison", attrs)

	var (
		mu       sync.Mutex
		attempts []int
	)
	r := b.receive(t, sub, queue.ReceiveOptions{MaxOutstanding: 1}, func(_ context.Context, m *queue.Message) {
		mu.Lock()
		attempts = append(attempts, m.DeliveryAttempt)
		mu.Unlock()
		m.Nack()
	})
	h, ch := collect(1)
	dr := b.receive(t, dlqSub, queue.ReceiveOptions{}, h)
	m := wait(t, dr, ch)
	require.NoError(t, r.stop(t))

	assert.Equal(t, "poison", string(m.Data))
	// Pub/Sub adds CloudPubSubDeadLetter* attributes; the original ones stay.
	for k, v := range attrs {
		assert.Equal(t, v, m.Attr(k), "attribute %s", k)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, attempts)
	assert.Equal(t, 1, attempts[0], "first delivery")
	assert.IsNonDecreasing(t, attempts)
	assert.Equal(t, MaxDeliveryAttempts, attempts[len(attempts)-1], "last delivery before dead-lettering")
	for i := 1; i <= MaxDeliveryAttempts; i++ {
		assert.Contains(t, attempts, i)
	}
}

func testDeadLetterHelper(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	dlq := b.topic(t, "t-dlq")
	sub := b.dlqSub(t, "s", topic, dlq)
	dlqSub := b.sub(t, "dlq", dlq)
	b.publish(t, topic, "{not json", map[string]string{queue.AttrJobID: "job-1"})

	r := b.receive(t, sub, queue.ReceiveOptions{}, func(ctx context.Context, m *queue.Message) {
		if err := queue.DeadLetter(ctx, b.q, dlq, sub, m, "decode job request: unexpected EOF"); err != nil {
			if ctx.Err() == nil { // else a duplicate delivery as Receive stops
				t.Errorf("DeadLetter: %v", err)
			}
			m.Nack()
			return
		}
		m.Ack()
	})
	h, ch := collect(1)
	dr := b.receive(t, dlqSub, queue.ReceiveOptions{}, h)
	m := wait(t, dr, ch)
	require.NoError(t, r.stop(t))

	assert.Equal(t, "{not json", string(m.Data))
	assert.Equal(t, "job-1", m.Attr(queue.AttrJobID))
	assert.Equal(t, "decode job request: unexpected EOF", m.Attr(queue.AttrReason))
	assert.Equal(t, sub, m.Attr(queue.AttrSourceSub))
}

func testFlowControl(t *testing.T, b *bundle) {
	const maxOutstanding, n = 3, 12
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	for i := range n {
		b.publish(t, topic, strconv.Itoa(i), nil)
	}

	var (
		active, peak atomic.Int32
		mu           sync.Mutex
		handled      = map[string]bool{}
	)
	gate := make(chan struct{})
	full := make(chan struct{}, n)
	all := make(chan struct{})
	r := b.receive(t, sub, queue.ReceiveOptions{MaxOutstanding: maxOutstanding}, func(ctx context.Context, m *queue.Message) {
		a := active.Add(1)
		for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
		}
		if a == maxOutstanding {
			signal(full)
		}
		select {
		case <-gate:
		case <-ctx.Done():
		}
		active.Add(-1) // before Ack: an acked message no longer counts
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if !handled[string(m.Data)] {
			handled[string(m.Data)] = true
			if len(handled) == n {
				close(all)
			}
		}
	})
	wait(t, r, full) // the handlers are stuck at the gate, as many as allowed
	// A negative assertion needs a window: an implementation without flow
	// control starts the other 9 handlers within it.
	require.Never(t, func() bool { return peak.Load() > maxOutstanding }, 100*time.Millisecond, time.Millisecond,
		"more than %d handler calls at once", maxOutstanding)
	close(gate)
	wait(t, r, all)
	require.NoError(t, r.stop(t))
	assert.Equal(t, int32(maxOutstanding), peak.Load(), "most handler calls at once")
}

func testCancel(t *testing.T, b *bundle) {
	const n = 4
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	want := map[string]bool{}
	for i := range n {
		want[b.publish(t, topic, strconv.Itoa(i), nil)] = true
	}

	var running, finished atomic.Int32
	started := make(chan struct{}, n)
	r := b.receive(t, sub, queue.ReceiveOptions{MaxOutstanding: n}, func(ctx context.Context, m *queue.Message) {
		running.Add(1)
		defer running.Add(-1)
		signal(started)
		<-ctx.Done()
		// Work that outlives cancellation: Receive must wait for it.
		for range 1000 {
			runtime.Gosched()
		}
		finished.Add(1)
		m.Nack() // not done: deliver again
	})
	for range n {
		wait(t, r, started)
	}
	err := r.stop(t)
	assert.NoError(t, err, "Receive after cancellation")
	assert.Zero(t, running.Load(), "handlers still running after Receive returned")
	assert.GreaterOrEqual(t, finished.Load(), int32(n))

	// What was not acked comes again.
	h, ch := collect(2 * n)
	r = b.receive(t, sub, queue.ReceiveOptions{}, h)
	got := map[string]bool{}
	for len(got) < n {
		m := wait(t, r, ch)
		assert.True(t, want[m.ID], "unexpected message %s", m.ID)
		got[m.ID] = true
	}
}

func testConcurrentPublishers(t *testing.T, b *bundle) {
	const publishers, each, receivers = 25, 20, 4
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)

	// Several Receive calls share the subscription, like the instances of a
	// service do.
	var (
		mu        sync.Mutex
		delivered = map[string]int{} // data → deliveries
		allSeen   = make(chan struct{})
	)
	h := func(_ context.Context, m *queue.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		delivered[string(m.Data)]++
		if len(delivered) == publishers*each && delivered[string(m.Data)] == 1 {
			close(allSeen)
		}
	}
	rs := make([]*receiver, receivers)
	for i := range rs {
		rs[i] = b.receive(t, sub, queue.ReceiveOptions{MaxOutstanding: 16}, h)
	}

	ids := make(chan string, publishers*each)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				id, err := b.q.Publish(b.ctx, topic, queue.Message{
					Data:       []byte(fmt.Sprintf("%d-%d", p, i)),
					Attributes: map[string]string{"publisher": strconv.Itoa(p)},
				})
				if !assert.NoError(t, err) {
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	unique := map[string]bool{}
	for id := range ids {
		assert.NotEmpty(t, id)
		assert.False(t, unique[id], "id %s returned twice", id)
		unique[id] = true
	}
	require.Len(t, unique, publishers*each)

	wait(t, rs[0], allSeen)
	for _, r := range rs {
		require.NoError(t, r.stop(t))
	}
}

func testPublishMissingTopic(t *testing.T, b *bundle) {
	_, err := b.q.Publish(b.ctx, b.name("missing"), queue.Message{Data: []byte("x")})
	require.Error(t, err)
	assert.True(t, errors.Is(err, errclass.NotFound), "want errclass.NotFound, got %v", err)
}

func testReceiveMissingSubscription(t *testing.T, b *bundle) {
	err := b.q.Receive(b.ctx, b.name("missing"), queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
		t.Errorf("handler called for %s", m.ID)
		m.Nack()
	})
	require.Error(t, err)
	assert.True(t, errors.Is(err, errclass.NotFound), "want errclass.NotFound, got %v", err)
}

func testSubscriptionMissingTopic(t *testing.T, b *bundle) {
	err := b.q.EnsureSubscription(b.ctx, queue.SubscriptionConfig{
		Name: b.name("s"), Topic: b.name("missing"), AckDeadline: AckDeadline,
	})
	require.Error(t, err)
	assert.True(t, errors.Is(err, errclass.NotFound), "want errclass.NotFound, got %v", err)
}

func testCheckTopic(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	require.NoError(t, b.q.CheckTopic(b.ctx, topic))
	err := b.q.CheckTopic(b.ctx, b.name("missing"))
	assert.True(t, errors.Is(err, errclass.NotFound), "want errclass.NotFound, got %v", err)

	done, cancel := context.WithCancel(b.ctx)
	cancel()
	err = b.q.CheckTopic(done, topic)
	assert.True(t, errors.Is(err, errclass.Retryable), "a done ctx: want errclass.Retryable, got %v", err)

	require.NoError(t, b.q.Close())
	err = b.q.CheckTopic(b.ctx, topic)
	assert.True(t, errors.Is(err, errclass.Permanent), "a closed queue: want errclass.Permanent, got %v", err)
}
