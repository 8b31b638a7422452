package pubsubemu

import (
	"context"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aiprod/aiprod/pkg/sim"
)

// env is an emulator on a clock that moves only when told to, and raw
// gRPC clients of it. Timers still run on real time, but what they do
// depends on the clock only; fire runs them at once.
type env struct {
	t     *testing.T
	srv   *Server
	clock *sim.ManualClock
	pub   pubsubpb.PublisherClient
	sub   pubsubpb.SubscriberClient
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := sim.NewManualClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	srv, err := serve("127.0.0.1:0", clock.Now)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	pub, sub := dial(t, srv.Addr)
	return &env{t: t, srv: srv, clock: clock, pub: pub, sub: sub, ctx: ctx}
}

func topicName(id string) string { return "projects/p/topics/" + id }
func subName(id string) string   { return "projects/p/subscriptions/" + id }

func (e *env) topic(id string) string {
	e.t.Helper()
	_, err := e.pub.CreateTopic(e.ctx, &pubsubpb.Topic{Name: topicName(id)})
	require.NoError(e.t, err)
	return topicName(id)
}

// subscription creates subscription id on topic; with sets more fields.
func (e *env) subscription(id, topic string, with func(*pubsubpb.Subscription)) string {
	e.t.Helper()
	s := &pubsubpb.Subscription{Name: subName(id), Topic: topic}
	if with != nil {
		with(s)
	}
	_, err := e.sub.CreateSubscription(e.ctx, s)
	require.NoError(e.t, err)
	return subName(id)
}

// backlog creates topic "top" with subscription "sub", publishes n
// messages to it and returns the subscription.
func (e *env) backlog(n int) string {
	e.t.Helper()
	sub := e.subscription("sub", e.topic("top"), nil)
	e.publish(topicName("top"), n)
	return sub
}

func (e *env) publish(topic string, n int) []string {
	e.t.Helper()
	var msgs []*pubsubpb.PubsubMessage
	for i := range n {
		msgs = append(msgs, &pubsubpb.PubsubMessage{Data: []byte("m" + strconv.Itoa(i)), Attributes: map[string]string{"k": "v"}})
	}
	res, err := e.pub.Publish(e.ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: msgs})
	require.NoError(e.t, err)
	return res.GetMessageIds()
}

// pull returns what is ready now, without waiting.
func (e *env) pull(sub string, max int32) []*pubsubpb.ReceivedMessage {
	e.t.Helper()
	res, err := e.sub.Pull(e.ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: max, ReturnImmediately: true},
		grpc.MaxCallRecvMsgSize(2*responseMaxBytes))
	require.NoError(e.t, err)
	return res.GetReceivedMessages()
}

func (e *env) ack(sub string, rms ...*pubsubpb.ReceivedMessage) {
	e.t.Helper()
	_, err := e.sub.Acknowledge(e.ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ackIDs(rms)})
	require.NoError(e.t, err)
}

func (e *env) modify(sub string, secs int32, rms ...*pubsubpb.ReceivedMessage) {
	e.t.Helper()
	_, err := e.sub.ModifyAckDeadline(e.ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: ackIDs(rms), AckDeadlineSeconds: secs})
	require.NoError(e.t, err)
}

func ackIDs(rms []*pubsubpb.ReceivedMessage) []string {
	ids := make([]string, len(rms))
	for i, rm := range rms {
		ids[i] = rm.GetAckId()
	}
	return ids
}

// advance moves the clock and runs every subscription's timer.
func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	e.srv.st.mu.RLock()
	subs := make([]*subscription, 0, len(e.srv.st.subs))
	for _, s := range e.srv.st.subs {
		subs = append(subs, s)
	}
	e.srv.st.mu.RUnlock()
	for _, s := range subs {
		s.fire()
	}
}

func (e *env) stats(sub string) Stats {
	e.t.Helper()
	s, ok := e.srv.Stats(sub)
	require.True(e.t, ok, "subscription %s", sub)
	return s
}

// An acked message is gone from the emulator as soon as Acknowledge
// returns; pstest kept every message forever.
func TestAckFreesMessageAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.backlog(100)
	require.Equal(t, Stats{Held: 100, Ready: 100}, e.stats(sub))

	rms := e.pull(sub, 1000)
	require.Len(t, rms, 100)
	require.Equal(t, Stats{Held: 100, Leased: 100}, e.stats(sub))
	e.ack(sub, rms[:60]...)
	assert.Equal(t, Stats{Held: 40, Leased: 40}, e.stats(sub))
	e.ack(sub, rms[60:]...)
	assert.Equal(t, Stats{}, e.stats(sub))
}

// Messages older than the subscription's retention are dropped, waiting
// or leased, and only they.
func TestRetentionDropsOldMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) {
		s.MessageRetentionDuration = durationpb.New(10 * time.Minute)
	})
	e.publish(topicName("top"), 2)
	e.advance(time.Minute)
	leased := e.pull(sub, 1)
	require.Len(t, leased, 1)
	e.modify(sub, 600, leased...) // leased until a minute past its retention

	e.advance(8 * time.Minute)
	e.publish(topicName("top"), 1)
	require.Equal(t, Stats{Held: 3, Ready: 2, Leased: 1}, e.stats(sub), "nothing is past retention yet")
	e.advance(time.Minute)
	require.Equal(t, Stats{Held: 2, Ready: 1, Leased: 1}, e.stats(sub), "the waiting one of the first two dropped")
	e.advance(time.Minute)
	require.Equal(t, Stats{Held: 1, Ready: 1}, e.stats(sub), "the leased one dropped when its lease ended")
	rms := e.pull(sub, 10)
	require.Len(t, rms, 1)
	assert.Equal(t, "m0", string(rms[0].GetMessage().GetData()), "the message published later")
}

// A nacked message waits minimum_backoff·2^(failures−1), at most
// maximum_backoff; pstest redelivered at once whatever the policy.
func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) {
		s.RetryPolicy = &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(2 * time.Second), MaximumBackoff: durationpb.New(5 * time.Second)}
	})
	e.publish(topicName("top"), 1)
	for _, wait := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		rms := e.pull(sub, 1)
		require.Len(t, rms, 1)
		e.modify(sub, 0, rms...)
		require.Equal(t, Stats{Held: 1, Backoff: 1}, e.stats(sub))
		e.advance(wait - time.Millisecond)
		require.Empty(t, e.pull(sub, 1), "delivered before its %s backoff ended", wait)
		e.advance(time.Millisecond)
		require.Equal(t, Stats{Held: 1, Ready: 1}, e.stats(sub), "ready once its %s backoff ended", wait)
	}
}

// Without a retry policy a nacked message is ready at once.
func TestNackWithoutRetryPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.backlog(1)
	rms := e.pull(sub, 1)
	e.modify(sub, 0, rms...)
	again := e.pull(sub, 1)
	require.Len(t, again, 1)
	assert.NotEqual(t, rms[0].GetAckId(), again[0].GetAckId())
	assert.Zero(t, again[0].GetDeliveryAttempt(), "no dead-letter policy, no delivery_attempt (as on Pub/Sub)")
}

// Leases that run out count as failed deliveries: after
// max_delivery_attempts the message goes to the dead-letter topic with
// Pub/Sub's attributes, and leaves the subscription.
func TestExpiredLeasesDeadLetter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dlq := e.subscription("dlq-sub", e.topic("top-dlq"), nil)
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: topicName("top-dlq"), MaxDeliveryAttempts: 5}
	})
	e.publish(topicName("top"), 1)
	for i := int32(1); i <= 5; i++ {
		rms := e.pull(sub, 1)
		require.Len(t, rms, 1, "delivery %d", i)
		require.Equal(t, i, rms[0].GetDeliveryAttempt())
		e.advance(10 * time.Second) // the default ack deadline
	}
	assert.Equal(t, Stats{}, e.stats(sub))
	rms := e.pull(dlq, 10)
	require.Len(t, rms, 1)
	m := rms[0].GetMessage()
	assert.Equal(t, "m0", string(m.GetData()))
	assert.Equal(t, map[string]string{
		"k": "v", attrDLDeliveryCount: "5", attrDLSubscription: "sub", attrDLProject: "p",
		attrDLPublishTime: "2026-11-01T12:00:00.000Z",
	}, m.GetAttributes())
}

// ModifyAckDeadline moves a lease's end either way; an Ack after the lease
// ran out still counts until the message is delivered again, an Ack after
// a nack does not.
func TestLeaseChangesAndLateAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) { s.AckDeadlineSeconds = 20 })
	e.publish(topicName("top"), 2)
	rms := e.pull(sub, 2)
	require.Len(t, rms, 2)
	e.modify(sub, 60, rms[0])
	e.modify(sub, 10, rms[1])
	e.advance(10 * time.Second)
	require.Equal(t, Stats{Held: 2, Ready: 1, Leased: 1}, e.stats(sub), "the shortened lease ended, the extended one did not")
	e.ack(sub, rms[1])
	require.Equal(t, Stats{Held: 1, Leased: 1}, e.stats(sub), "an ack after expiry, before redelivery, counts")
	e.advance(50 * time.Second)
	require.Equal(t, Stats{Held: 1, Ready: 1}, e.stats(sub))

	again := e.pull(sub, 1)
	e.modify(sub, 0, again...)
	e.ack(sub, again...)
	assert.Equal(t, Stats{Held: 1, Ready: 1}, e.stats(sub), "an ack after a nack does not count")
	e.ack(sub, rms[0])
	assert.Equal(t, Stats{Held: 1, Ready: 1}, e.stats(sub), "an ack of an earlier delivery does not count")
}
