package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// The cases of queue.Puller.

// pullUntil pulls from sub until a message for which ok is true comes and
// returns it; other is called for every other message pulled meanwhile (nil:
// they are nacked). It fails the test after Timeout.
func (b *bundle) pullUntil(t *testing.T, sub string, ok func(queue.Pulled) bool, other func(queue.Pulled)) queue.Pulled {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		ps, err := b.q.Pull(b.ctx, sub, 10)
		require.NoError(t, err)
		found := slices.IndexFunc(ps, ok)
		for i, p := range ps {
			switch {
			case i == found:
			case other != nil:
				other(p)
			default:
				require.NoError(t, b.q.Nack(b.ctx, sub, p.AckID))
			}
		}
		if found >= 0 {
			return ps[found]
		}
	}
	t.Fatalf("no such message pulled from %s within %s", sub, Timeout)
	return queue.Pulled{}
}

// pullID pulls from sub until message id comes (other messages are nacked).
func (b *bundle) pullID(t *testing.T, sub, id string) queue.Pulled {
	t.Helper()
	return b.pullUntil(t, sub, func(p queue.Pulled) bool { return p.Message.ID == id }, nil)
}

// pullNew publishes data to a new topic with a subscription that has a
// dead-letter policy, pulls it and returns the subscription and the
// delivery.
func (b *bundle) pullNew(t *testing.T, data string, attrs map[string]string) (string, queue.Pulled) {
	t.Helper()
	topic := b.topic(t, "t")
	sub := b.dlqSub(t, "s", topic, b.topic(t, "t-dlq"))
	p := b.pullID(t, sub, b.publish(t, topic, data, attrs))
	require.Equal(t, 1, p.Message.DeliveryAttempt)
	return sub, p
}

func testPullPublished(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.dlqSub(t, "s", topic, b.topic(t, "t-dlq"))
	attrs := map[string]string{queue.AttrJobID: "job-1", "unicode": "vidéo ✓"}
	before := time.Now()
	want := map[string]string{
		b.publish(t, topic, "\x00one\xff", attrs): "\x00one\xff",
		b.publish(t, topic, "two", attrs):         "two",
	}

	got := map[string]queue.Pulled{}
	b.pullUntil(t, sub, func(p queue.Pulled) bool {
		got[p.Message.ID] = p
		return len(got) == len(want)
	}, func(p queue.Pulled) { got[p.Message.ID] = p })
	require.Len(t, got, len(want), "only the published messages")
	ackIDs := map[string]bool{}
	for id, p := range got {
		assert.Equal(t, want[id], string(p.Message.Data))
		assert.Equal(t, attrs, p.Message.Attributes)
		assert.Equal(t, 1, p.Message.DeliveryAttempt, "first delivery")
		assert.WithinRange(t, p.Message.PublishTime, before.Add(-time.Minute), time.Now().Add(time.Minute))
		assert.NotEmpty(t, p.AckID)
		assert.False(t, ackIDs[p.AckID], "ack id %s twice", p.AckID)
		ackIDs[p.AckID] = true
		require.NoError(t, b.q.Ack(b.ctx, sub, p.AckID))
	}
}

func testPullAck(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	acked := b.publish(t, topic, "acked", nil)
	p := b.pullID(t, sub, acked)
	require.NoError(t, b.q.Ack(b.ctx, sub, p.AckID))
	require.NoError(t, b.q.Ack(b.ctx, sub, p.AckID), "a second Ack is ignored")
	require.NoError(t, b.q.Ack(b.ctx, sub), "no ack ids")

	// Pull until a marker was nacked once and came again: the acked
	// message must not come back in the meantime.
	marker := b.publish(t, topic, "marker", nil)
	notAcked := func(p queue.Pulled) {
		assert.NotEqual(t, acked, p.Message.ID, "an acked message was delivered again")
		require.NoError(t, b.q.Nack(b.ctx, sub, p.AckID))
	}
	for range 2 {
		m := b.pullUntil(t, sub, func(p queue.Pulled) bool { return p.Message.ID == marker }, notAcked)
		require.NoError(t, b.q.Nack(b.ctx, sub, m.AckID))
	}
}

func testPullNack(t *testing.T, b *bundle) {
	sub, first := b.pullNew(t, "again", map[string]string{"k": "v"})
	require.NoError(t, b.q.Nack(b.ctx, sub, first.AckID))
	again := b.pullID(t, sub, first.Message.ID)
	assert.Equal(t, 2, again.Message.DeliveryAttempt)
	assert.NotEqual(t, first.AckID, again.AckID, "a new delivery, a new ack id")
	assert.Equal(t, "again", string(again.Message.Data))
	assert.Equal(t, map[string]string{"k": "v"}, again.Message.Attributes)
	require.NoError(t, b.q.Ack(b.ctx, sub, again.AckID))
}

func testPullDeadLetter(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	dlq := b.topic(t, "t-dlq")
	sub := b.dlqSub(t, "s", topic, dlq)
	dlqSub := b.sub(t, "dlq", dlq)
	b.publish(t, topic, "poison", map[string]string{queue.AttrJobID: "job-1"})

	// Pulled and nacked MaxDeliveryAttempts times, it is dead-lettered.
	for i := 1; i <= MaxDeliveryAttempts; i++ {
		p := b.pullUntil(t, sub, func(queue.Pulled) bool { return true }, nil)
		require.Equal(t, i, p.Message.DeliveryAttempt)
		require.NoError(t, b.q.Nack(b.ctx, sub, p.AckID))
	}
	// Pub/Sub may forward it lazily, when the subscription is read again
	// (the official emulator does): read both until the dead letter comes.
	// The subscription must not deliver it again meanwhile.
	var d queue.Pulled
	deadline := time.Now().Add(2 * Timeout)
	for {
		require.True(t, time.Now().Before(deadline), "not dead-lettered within %s", 2*Timeout)
		ds, err := b.q.Pull(b.ctx, dlqSub, 10)
		require.NoError(t, err)
		if len(ds) > 0 {
			d = ds[0]
			break
		}
		ps, err := b.q.Pull(b.ctx, sub, 10)
		require.NoError(t, err)
		for _, p := range ps {
			assert.Fail(t, "delivered again after the max delivery attempts", "attempt %d", p.Message.DeliveryAttempt)
			require.NoError(t, b.q.Nack(b.ctx, sub, p.AckID))
		}
	}
	assert.Equal(t, "poison", string(d.Message.Data))
	assert.Equal(t, "job-1", d.Message.Attr(queue.AttrJobID))
	require.NoError(t, b.q.Ack(b.ctx, dlqSub, d.AckID))
}

// pullLease is the lease the lease cases give a pulled message; Pub/Sub's
// leases are whole seconds.
const pullLease = 2 * time.Second

func testPullLeaseExpires(t *testing.T, b *bundle) {
	// A lease that nobody extends ends, and the message comes again: not
	// before the lease ends, and before the subscription's ack deadline
	// would have ended the first one (ExtendDeadline may shorten a lease).
	sub, p := b.pullNew(t, "leased", nil)
	pulled := time.Now()
	require.NoError(t, b.q.ExtendDeadline(b.ctx, sub, pullLease, p.AckID))
	again := b.pullID(t, sub, p.Message.ID)
	assert.GreaterOrEqual(t, time.Since(pulled), pullLease-100*time.Millisecond, "delivered again while leased")
	assert.Less(t, time.Since(pulled), AckDeadline, "the lease was not shortened to %s", pullLease)
	assert.Equal(t, 2, again.Message.DeliveryAttempt)
	require.NoError(t, b.q.Ack(b.ctx, sub, again.AckID))
}

func testPullExtend(t *testing.T, b *bundle) {
	// Extended again and again, a lease of pullLease outlives its first
	// end. (The first ExtendDeadline shortens the lease from AckDeadline.)
	sub, p := b.pullNew(t, "extended", nil)
	id := p.Message.ID
	pulled := time.Now()
	for time.Since(pulled) < pullLease*3/2 {
		require.NoError(t, b.q.ExtendDeadline(b.ctx, sub, pullLease, p.AckID))
		ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
		ps, err := b.q.Pull(ctx, sub, 10)
		cancel()
		if err != nil && ctx.Err() == nil {
			require.NoError(t, err)
		}
		for _, o := range ps {
			require.NotEqual(t, id, o.Message.ID, "delivered again while its lease was extended")
		}
	}
	// Left alone, it comes again, sooner than AckDeadline after the pull:
	// the extensions took effect.
	again := b.pullID(t, sub, id)
	assert.Less(t, time.Since(pulled), AckDeadline, "the lease was not set to %s", pullLease)
	assert.Equal(t, 2, again.Message.DeliveryAttempt)
	require.NoError(t, b.q.Ack(b.ctx, sub, again.AckID))
}

func testPullEmpty(t *testing.T, b *bundle) {
	sub := b.sub(t, "s", b.topic(t, "t"))
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	ps, err := b.q.Pull(ctx, sub, 10)
	require.NoError(t, err, "an empty subscription answers none, before ctx ends")
	assert.Empty(t, ps)
}

func testPullMissingSubscription(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	p := b.pullID(t, sub, b.publish(t, topic, "x", nil))
	missing := b.name("missing")

	_, err := b.q.Pull(b.ctx, missing, 10)
	assertNotFound(t, err, "Pull")
	assertNotFound(t, b.q.Ack(b.ctx, missing, p.AckID), "Ack")
	assertNotFound(t, b.q.Nack(b.ctx, missing, p.AckID), "Nack")
	assertNotFound(t, b.q.ExtendDeadline(b.ctx, missing, pullLease, p.AckID), "ExtendDeadline")
	require.NoError(t, b.q.Ack(b.ctx, sub, p.AckID))
}

func assertNotFound(t *testing.T, err error, op string) {
	t.Helper()
	assert.True(t, errors.Is(err, errclass.NotFound), "%s: want errclass.NotFound, got %v", op, err)
}

func testPullInvalidArguments(t *testing.T, b *bundle) {
	topic := b.topic(t, "t")
	sub := b.sub(t, "s", topic)
	p := b.pullID(t, sub, b.publish(t, topic, "x", nil))

	_, err := b.q.Pull(b.ctx, sub, 0)
	assert.ErrorIs(t, err, errclass.Permanent, "max 0")
	assert.ErrorIs(t, b.q.ExtendDeadline(b.ctx, sub, 0, p.AckID), errclass.Permanent, "lease 0")
	assert.ErrorIs(t, b.q.ExtendDeadline(b.ctx, sub, queue.MaxLease+time.Second, p.AckID), errclass.Permanent, "lease too long")
	require.NoError(t, b.q.Ack(b.ctx, sub, p.AckID))
}
