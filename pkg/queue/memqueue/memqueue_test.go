package memqueue_test

import (
	"cmp"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/queue/queuetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Queue { return memqueue.New() })
}

// bundle is what each test starts with.
type bundle struct {
	q   *memqueue.Queue
	ctx context.Context
}

func setup(t *testing.T, opts ...memqueue.Option) *bundle {
	t.Helper()
	q := memqueue.New(opts...)
	t.Cleanup(func() { _ = q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), queuetest.Timeout)
	t.Cleanup(cancel)
	return &bundle{q: q, ctx: ctx}
}

// provision creates topic "t" with dead-letter topic "t-dlq" and the
// subscriptions "s" (of t, dead-lettering to t-dlq) and "t-dlq" (of t-dlq).
func (b *bundle) provision(t *testing.T, s queue.SubscriptionConfig) {
	t.Helper()
	s.Name, s.Topic, s.DeadLetterTopic = "sub", "top", "top-dlq"
	s.MaxDeliveryAttempts = cmp.Or(s.MaxDeliveryAttempts, 5)
	require.NoError(t, queue.Provision(b.ctx, b.q, []queue.SubscriptionConfig{
		s, {Name: "top-dlq", Topic: "top-dlq"},
	}))
}

// receive runs Receive in the background until the test ends and sends
// every delivery on the returned channel; h decides what to do with it.
func (b *bundle) receive(t *testing.T, sub string, opts queue.ReceiveOptions, h queue.Handler) <-chan *queue.Message {
	t.Helper()
	ch := make(chan *queue.Message, 100)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.q.Receive(ctx, sub, opts, func(ctx context.Context, m *queue.Message) {
			ch <- m
			h(ctx, m)
		})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ch
}

func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(queuetest.Timeout):
		t.Fatal("nothing received")
		panic("unreachable")
	}
}

func ack(_ context.Context, m *queue.Message) { m.Ack() }

func TestNackBackoff(t *testing.T) {
	t.Parallel()
	const minBackoff = 20 * time.Millisecond
	b := setup(t, memqueue.WithBackoff(minBackoff, 4*minBackoff))
	b.provision(t, queue.SubscriptionConfig{MinBackoff: time.Hour, MaxBackoff: time.Hour, MaxDeliveryAttempts: 10})
	_, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("x")})
	require.NoError(t, err)

	type delivery struct {
		attempt            int
		received, nackedAt time.Time
	}
	deliveries := make(chan delivery, 10)
	b.receive(t, "sub", queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
		d := delivery{attempt: m.DeliveryAttempt, received: time.Now()}
		d.nackedAt = time.Now()
		m.Nack()
		deliveries <- d
	})
	prev := next(t, deliveries)
	for attempt := 2; attempt <= 5; attempt++ {
		d := next(t, deliveries)
		assert.Equal(t, attempt, d.attempt)
		want := min(minBackoff<<(attempt-2), 4*minBackoff)
		assert.GreaterOrEqual(t, d.received.Sub(prev.nackedAt), want, "attempt %d came before the backoff", attempt)
		prev = d
	}
}

// block is a handler that returns only when Receive stops.
func block(ctx context.Context, _ *queue.Message) { <-ctx.Done() }

func TestAckDeadlineExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, memqueue.WithAckDeadline(20*time.Millisecond), memqueue.WithBackoff(0, 0))
	b.provision(t, queue.SubscriptionConfig{})
	id, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("x")})
	require.NoError(t, err)

	// Without lease extension, a message whose handler is still running past
	// the deadline comes again, and after 5 deliveries it is dead-lettered.
	ch := b.receive(t, "sub", queue.ReceiveOptions{MaxOutstanding: 10, MaxExtension: -1}, block)
	for attempt := 1; attempt <= 5; attempt++ {
		m := next(t, ch)
		assert.Equal(t, id, m.ID)
		assert.Equal(t, attempt, m.DeliveryAttempt)
	}
	dlq := b.receive(t, "top-dlq", queue.ReceiveOptions{}, ack)
	m := next(t, dlq)
	assert.Equal(t, "x", string(m.Data))
	assert.Zero(t, b.q.Pending("sub"))
}

func TestLeaseExtendedWhileHandlerRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, memqueue.WithAckDeadline(time.Millisecond), memqueue.WithBackoff(0, 0))
	b.provision(t, queue.SubscriptionConfig{})
	_, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("held")})
	require.NoError(t, err)
	_, err = b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("marker")})
	require.NoError(t, err)

	// The held message's lease is extended for an hour while its handler
	// runs: the marker, nacked until its 4th delivery, never sees it again.
	ch := b.receive(t, "sub", queue.ReceiveOptions{MaxOutstanding: 2, MaxExtension: time.Hour}, func(ctx context.Context, m *queue.Message) {
		switch {
		case string(m.Data) == "held":
			<-ctx.Done()
		case m.DeliveryAttempt < 4:
			m.Nack()
		default:
			m.Ack()
		}
	})
	for {
		m := next(t, ch)
		if string(m.Data) == "held" {
			require.Equal(t, 1, m.DeliveryAttempt, "held message delivered again")
		}
		if string(m.Data) == "marker" && m.DeliveryAttempt == 4 {
			break
		}
	}
}

func TestReturnWithoutAckNacks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{AckDeadline: time.Hour})
	id, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("x")})
	require.NoError(t, err)

	// A handler that neither acks nor nacks: the message is delivered again
	// at once, not after the hour of ack deadline, and a late Ack is ignored.
	ch := b.receive(t, "sub", queue.ReceiveOptions{}, func(ctx context.Context, m *queue.Message) {
		if m.DeliveryAttempt > 1 {
			<-ctx.Done() // hold the second delivery
		}
	})
	first := next(t, ch)
	assert.Equal(t, 1, first.DeliveryAttempt)
	second := next(t, ch)
	assert.Equal(t, id, second.ID)
	assert.Equal(t, 2, second.DeliveryAttempt)
	first.Ack()
	assert.Equal(t, 1, b.q.Pending("sub"))
}

func TestPublishedAndPending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{})
	assert.Nil(t, b.q.Published("missing"))
	assert.Zero(t, b.q.Pending("missing"))

	attrs := map[string]string{"k": "v"}
	id1, err := b.q.Publish(b.ctx, "top", queue.Message{ID: "ignored", Data: []byte("a"), Attributes: attrs})
	require.NoError(t, err)
	attrs["k"] = "changed after publish"
	id2, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("b")})
	require.NoError(t, err)
	assert.NotEqual(t, id1, id2)

	got := b.q.Published("top")
	require.Len(t, got, 2)
	assert.Equal(t, id1, got[0].ID)
	assert.Equal(t, "a", string(got[0].Data))
	assert.Equal(t, map[string]string{"k": "v"}, got[0].Attributes)
	assert.False(t, got[0].PublishTime.IsZero())
	assert.Equal(t, id2, got[1].ID)
	got[0].Attributes["k"] = "x" // a copy
	assert.Equal(t, "v", b.q.Published("top")[0].Attributes["k"])
	assert.Equal(t, 2, b.q.Pending("sub"))

	ch := b.receive(t, "sub", queue.ReceiveOptions{}, ack)
	next(t, ch)
	next(t, ch)
	require.Eventually(t, func() bool { return b.q.Pending("sub") == 0 }, queuetest.Timeout, time.Millisecond)
	assert.Len(t, b.q.Published("top"), 2, "acked messages stay in Published")
}

func TestLateAckIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t, memqueue.WithBackoff(0, 0))
	b.provision(t, queue.SubscriptionConfig{})
	_, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("x")})
	require.NoError(t, err)

	// The handler returns when told to, so the test settles each delivery.
	proceed := make(chan struct{})
	ch := b.receive(t, "sub", queue.ReceiveOptions{MaxOutstanding: 1}, func(ctx context.Context, _ *queue.Message) {
		select {
		case <-proceed:
		case <-ctx.Done():
		}
	})
	first := next(t, ch)
	first.Nack()
	proceed <- struct{}{}
	second := next(t, ch)
	assert.Equal(t, 2, second.DeliveryAttempt)
	first.Ack() // stale: the message was delivered again since
	assert.Equal(t, 1, b.q.Pending("sub"))
	second.Ack()
	second.Nack() // after Ack: ignored
	assert.Zero(t, b.q.Pending("sub"))
	proceed <- struct{}{}
}

func TestCloseStopsReceive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{})
	done := make(chan error, 1)
	go func() {
		done <- b.q.Receive(b.ctx, "sub", queue.ReceiveOptions{}, func(context.Context, *queue.Message) {})
	}()
	require.NoError(t, b.q.Close())
	require.NoError(t, b.q.Close(), "second Close")
	select {
	case err := <-done:
		assert.ErrorIs(t, err, errclass.Permanent)
	case <-time.After(queuetest.Timeout):
		t.Fatal("Receive did not return after Close")
	}
	_, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte("x")})
	assert.ErrorIs(t, err, errclass.Permanent)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{})
	for name, m := range map[string]queue.Message{
		"empty":          {},
		"goog attribute": {Data: []byte("x"), Attributes: map[string]string{"googfoo": "v"}},
		"empty key":      {Data: []byte("x"), Attributes: map[string]string{"": "v"}},
		"long value":     {Data: []byte("x"), Attributes: map[string]string{"k": strings.Repeat("v", 1025)}},
	} {
		_, err := b.q.Publish(b.ctx, "top", m)
		assert.ErrorIs(t, err, errclass.Permanent, name)
	}
	for _, name := range []string{"", "ab", "1abc", "goog-topic", "has space"} {
		assert.ErrorIs(t, b.q.EnsureTopic(b.ctx, name), errclass.Permanent, name)
	}
	for name, cfg := range map[string]queue.SubscriptionConfig{
		"attempts too low": {Name: "sub2", Topic: "top", DeadLetterTopic: "top-dlq", MaxDeliveryAttempts: 4},
		"backoff reversed": {Name: "sub2", Topic: "top", MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		assert.ErrorIs(t, b.q.EnsureSubscription(b.ctx, cfg), errclass.Permanent, name)
	}
	err := b.q.EnsureSubscription(b.ctx, queue.SubscriptionConfig{Name: "sub2", Topic: "top", DeadLetterTopic: "nope", MaxDeliveryAttempts: 5})
	assert.ErrorIs(t, err, errclass.NotFound)
}
