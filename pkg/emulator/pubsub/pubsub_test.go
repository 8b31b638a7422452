package pubsubemu

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestServe(t *testing.T) {
	t.Parallel()
	srv, err := Serve("127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Addr)
	require.NoError(t, err, "the emulator listens")
	c.Close()

	_, err = Serve(srv.Addr)
	require.Error(t, err, "a busy address is an error, not a panic")
	require.Contains(t, err.Error(), srv.Addr)
}

// A subscriber that stops reading its stream and then sends a keep-alive
// must not freeze the emulator for everyone else. On stock pstest (v2.9.0)
// the ping's answer blocks under the server-wide mutex and the Publish
// below never returns.
func TestStalledSubscriberPingDoesNotBlockServer(t *testing.T) {
	t.Parallel()
	srv, err := Serve("127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, sub := dial(t, srv.Addr)
	_, err = pub.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/top"})
	require.NoError(t, err)
	_, err = sub.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: "projects/p/subscriptions/sub", Topic: "projects/p/topics/top", AckDeadlineSeconds: 60,
	})
	require.NoError(t, err)

	// A stream that is opened and never read: once its flow-control window
	// is full, the server's send to it blocks.
	_, stalled := dial(t, srv.Addr)
	stream, err := stalled.StreamingPull(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{
		Subscription: "projects/p/subscriptions/sub", StreamAckDeadlineSeconds: 60, ProtocolVersion: 1,
	}))
	big := bytes.Repeat([]byte("x"), 512<<10)
	for range 16 {
		_, err := pub.Publish(ctx, &pubsubpb.PublishRequest{
			Topic: "projects/p/topics/top", Messages: []*pubsubpb.PubsubMessage{{Data: big}},
		})
		require.NoError(t, err)
	}
	time.Sleep(500 * time.Millisecond) // let the server fill the window and block
	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{}), "keep-alive ping")
	time.Sleep(200 * time.Millisecond)

	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	_, err = pub.Publish(pctx, &pubsubpb.PublishRequest{
		Topic: "projects/p/topics/top", Messages: []*pubsubpb.PubsubMessage{{Data: []byte("after the ping")}},
	})
	require.NoError(t, err, "the emulator still serves other callers")
}

// Pings on a healthy stream are answered, so the client library's stream
// monitor (which reopens streams whose pings go unanswered) stays quiet.
func TestPingIsAnswered(t *testing.T) {
	t.Parallel()
	srv, err := Serve("127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, sub := dial(t, srv.Addr)
	_, err = pub.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/top"})
	require.NoError(t, err)
	_, err = sub.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/p/subscriptions/sub", Topic: "projects/p/topics/top"})
	require.NoError(t, err)
	stream, err := sub.StreamingPull(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{
		Subscription: "projects/p/subscriptions/sub", StreamAckDeadlineSeconds: 10, ProtocolVersion: 1,
	}))
	require.NoError(t, stream.Send(&pubsubpb.StreamingPullRequest{}))
	res, err := stream.Recv()
	require.NoError(t, err)
	require.Empty(t, res.GetReceivedMessages(), "an empty response answers the ping")

	_, err = pub.Publish(ctx, &pubsubpb.PublishRequest{
		Topic: "projects/p/topics/top", Messages: []*pubsubpb.PubsubMessage{{Data: []byte("m")}},
	})
	require.NoError(t, err)
	res, err = stream.Recv()
	require.NoError(t, err)
	require.Len(t, res.GetReceivedMessages(), 1, "messages still flow on the same stream")
	require.Equal(t, "m", string(res.GetReceivedMessages()[0].GetMessage().GetData()))
}

func dial(t *testing.T, addr string) (pubsubpb.PublisherClient, pubsubpb.SubscriberClient) {
	t.Helper()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return pubsubpb.NewPublisherClient(conn), pubsubpb.NewSubscriberClient(conn)
}
