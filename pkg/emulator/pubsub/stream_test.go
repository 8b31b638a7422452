package pubsubemu

import (
	"bytes"
	"context"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// openStream opens a StreamingPull stream on sub with the given flow
// control and waits until the emulator serves it.
func (e *env) openStream(ctx context.Context, sub string, maxMessages int64) pubsubpb.Subscriber_StreamingPullClient {
	e.t.Helper()
	stream, err := e.sub.StreamingPull(ctx)
	require.NoError(e.t, err)
	require.NoError(e.t, stream.Send(&pubsubpb.StreamingPullRequest{
		Subscription: sub, StreamAckDeadlineSeconds: 10, MaxOutstandingMessages: maxMessages, ProtocolVersion: 1,
	}))
	require.Eventually(e.t, func() bool { return e.stats(sub).Streams == 1 }, 10*time.Second, time.Millisecond)
	return stream
}

// recv reads the stream until n messages came.
func recv(t *testing.T, stream pubsubpb.Subscriber_StreamingPullClient, n int) []*pubsubpb.ReceivedMessage {
	t.Helper()
	var out []*pubsubpb.ReceivedMessage
	for len(out) < n {
		res, err := stream.Recv()
		require.NoError(t, err)
		out = append(out, res.GetReceivedMessages()...)
	}
	require.Len(t, out, n, "more than asked for")
	return out
}

// The client's max_outstanding_messages bounds what a stream holds; an
// ack or a nack on the stream makes room for one more.
func TestStreamFlowControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.backlog(10)
	stream := e.openStream(e.ctx, sub, 3)

	got := recv(t, stream, 3)
	require.Equal(t, Stats{Held: 10, Ready: 7, Leased: 3, Streams: 1}, e.stats(sub))

	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{AckIds: []string{got[0].GetAckId()}}))
	recv(t, stream, 1)
	require.Equal(t, Stats{Held: 9, Ready: 6, Leased: 3, Streams: 1}, e.stats(sub), "the ack freed one place")

	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{
		ModifyDeadlineAckIds: []string{got[1].GetAckId()}, ModifyDeadlineSeconds: []int32{0},
	}))
	recv(t, stream, 1)
	require.Equal(t, Stats{Held: 9, Ready: 6, Leased: 3, Streams: 1}, e.stats(sub), "the nack freed one place")
}

// What a stream never sent (its client stopped reading) is given back
// when the stream closes, without counting as a delivery; what it sent
// stays leased.
func TestClosedStreamGivesBackWhatItNeverSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.topic("top-dlq")
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: topicName("top-dlq"), MaxDeliveryAttempts: 5}
	})
	big := bytes.Repeat([]byte("x"), 512<<10)
	for range 3 { // 24 MiB: more than one response holds
		var msgs []*pubsubpb.PubsubMessage
		for range 16 {
			msgs = append(msgs, &pubsubpb.PubsubMessage{Data: big})
		}
		_, err := e.pub.Publish(e.ctx, &pubsubpb.PublishRequest{Topic: topicName("top"), Messages: msgs})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	e.openStream(ctx, sub, 0) // never read: its 64 KiB window fills
	require.Equal(t, Stats{Held: 48, Leased: 48, Streams: 1}, e.stats(sub))
	cancel()

	require.Eventually(t, func() bool { return e.stats(sub).Streams == 0 }, 10*time.Second, time.Millisecond)
	s := e.stats(sub)
	require.Positive(t, s.Ready, "the unsent messages are ready again")
	require.Equal(t, 48, s.Ready+s.Leased)
	pulled := 0
	for rms := e.pull(sub, 100); len(rms) > 0; rms = e.pull(sub, 100) { // 10 MiB a response
		for _, rm := range rms {
			pulled++
			assert.Equal(t, int32(1), rm.GetDeliveryAttempt(), "a delivery that never left does not count")
		}
	}
	assert.Equal(t, s.Ready, pulled)
}

// Deleting a subscription ends its streams with NotFound and frees what it
// held.
func TestDeleteSubscriptionEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.backlog(3)
	stream := e.openStream(e.ctx, sub, 0)
	recv(t, stream, 3)
	_, err := e.sub.DeleteSubscription(e.ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
	require.NoError(t, err)
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
	}
	assert.Equal(t, codes.NotFound, status.Code(err))
	_, ok := e.srv.Stats(sub)
	assert.False(t, ok)
}

// A stream's first request must name an existing subscription and a stream
// ack deadline Pub/Sub accepts.
func TestStreamBadOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.subscription("sub", e.topic("top"), nil)
	for _, c := range []struct {
		req  *pubsubpb.StreamingPullRequest
		code codes.Code
	}{
		{&pubsubpb.StreamingPullRequest{Subscription: subName("missing"), StreamAckDeadlineSeconds: 10}, codes.NotFound},
		{&pubsubpb.StreamingPullRequest{Subscription: sub, StreamAckDeadlineSeconds: 5}, codes.InvalidArgument},
		{&pubsubpb.StreamingPullRequest{Subscription: sub, StreamAckDeadlineSeconds: 10, AckIds: []string{"nonsense"}}, codes.InvalidArgument},
	} {
		stream, err := e.sub.StreamingPull(e.ctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(c.req))
		_, err = stream.Recv()
		assert.Equal(t, c.code, status.Code(err), "%v", c.req)
	}
}
