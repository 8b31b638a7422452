package memqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
)

// pullOne pulls one message of sub, failing the test if none comes.
func (b *bundle) pullOne(t *testing.T, sub string) queue.Pulled {
	t.Helper()
	ps, err := b.q.Pull(b.ctx, sub, 1)
	require.NoError(t, err)
	require.Len(t, ps, 1, "nothing pulled from %s", sub)
	return ps[0]
}

func (b *bundle) publishData(t *testing.T, data string) string {
	t.Helper()
	id, err := b.q.Publish(b.ctx, "top", queue.Message{Data: []byte(data)})
	require.NoError(t, err)
	return id
}

func TestPullAndReceiveShareLeases(t *testing.T) {
	t.Parallel()
	b := setup(t, memqueue.WithBackoff(0, 0))
	b.provision(t, queue.SubscriptionConfig{AckDeadline: time.Hour})
	pulledID := b.publishData(t, "pulled")
	p := b.pullOne(t, "sub")
	require.Equal(t, pulledID, p.Message.ID)

	// Receive delivers in publish order: it gets the later marker, not the
	// leased message before it.
	marker := b.publishData(t, "marker")
	ch := b.receive(t, "sub", queue.ReceiveOptions{}, ack)
	assert.Equal(t, marker, next(t, ch).ID)

	// Nacked through the Puller, it goes to Receive as a second delivery.
	require.NoError(t, b.q.Nack(b.ctx, "sub", p.AckID))
	m := next(t, ch)
	assert.Equal(t, pulledID, m.ID)
	assert.Equal(t, 2, m.DeliveryAttempt)
}

func TestPullLeaseExpiryDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, memqueue.WithAckDeadline(20*time.Millisecond), memqueue.WithBackoff(0, 0))
	b.provision(t, queue.SubscriptionConfig{})
	id := b.publishData(t, "x")

	// Pulled and never settled, each lease expires and counts as a failed
	// delivery: after 5 the message is dead-lettered.
	for attempt := 1; attempt <= 5; attempt++ {
		p := b.pullOne(t, "sub")
		assert.Equal(t, id, p.Message.ID)
		assert.Equal(t, attempt, p.Message.DeliveryAttempt)
	}
	d := b.pullOne(t, "top-dlq")
	assert.Equal(t, "x", string(d.Message.Data))
	assert.Zero(t, b.q.Pending("sub"))
}

func TestPullNackBackoff(t *testing.T) {
	t.Parallel()
	const backoff = 50 * time.Millisecond
	b := setup(t, memqueue.WithBackoff(backoff, backoff))
	b.provision(t, queue.SubscriptionConfig{})
	b.publishData(t, "x")

	p := b.pullOne(t, "sub")
	nacked := time.Now()
	require.NoError(t, b.q.Nack(b.ctx, "sub", p.AckID))
	again := b.pullOne(t, "sub") // waits for the backoff, within PullWait
	assert.GreaterOrEqual(t, time.Since(nacked), backoff, "delivered again before the backoff")
	assert.Equal(t, 2, again.Message.DeliveryAttempt)

	// A stale ack id is ignored.
	require.NoError(t, b.q.Ack(b.ctx, "sub", p.AckID))
	assert.Equal(t, 1, b.q.Pending("sub"))
	require.NoError(t, b.q.Ack(b.ctx, "sub", again.AckID))
	assert.Zero(t, b.q.Pending("sub"))
}

func TestPullWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{})

	// Empty: none, after PullWait.
	start := time.Now()
	ps, err := b.q.Pull(b.ctx, "sub", 10)
	require.NoError(t, err)
	assert.Empty(t, ps)
	assert.GreaterOrEqual(t, time.Since(start), memqueue.PullWait)

	// A message published while Pull waits is returned.
	got := make(chan []queue.Pulled, 1)
	go func() {
		ps, err := b.q.Pull(b.ctx, "sub", 10)
		assert.NoError(t, err)
		got <- ps
	}()
	id := b.publishData(t, "late")
	ps = <-got
	if len(ps) == 0 { // it gave up before the publish
		ps = []queue.Pulled{b.pullOne(t, "sub")}
	}
	require.Len(t, ps, 1)
	assert.Equal(t, id, ps[0].Message.ID)

	// ctx ends: errclass.Retryable.
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	_, err = b.q.Pull(ctx, "sub", 10)
	assert.ErrorIs(t, err, errclass.Retryable)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestPullBadAckIDAndClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.provision(t, queue.SubscriptionConfig{})
	for _, id := range []string{"x", "1:x", ":1"} {
		assert.ErrorIs(t, b.q.Ack(b.ctx, "sub", id), errclass.Permanent, id)
	}

	// Close ends a waiting Pull.
	done := make(chan error, 1)
	go func() {
		_, err := b.q.Pull(b.ctx, "sub", 10)
		done <- err
	}()
	require.NoError(t, b.q.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, errclass.Permanent)
	case <-time.After(memqueue.PullWait + time.Second):
		t.Fatal("Pull did not return after Close")
	}
	_, err := b.q.Pull(b.ctx, "sub", 10)
	assert.ErrorIs(t, err, errclass.Permanent)
	assert.ErrorIs(t, b.q.Ack(b.ctx, "sub", "1:1"), errclass.Permanent)
}
