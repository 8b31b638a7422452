package gcppubsub_test

import (
	"context"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/queue/queuetest"
)

// newEmulatorQueue starts the project's Pub/Sub emulator for the test and
// connects to it.
func newEmulatorQueue(t *testing.T) *gcppubsub.Queue {
	t.Helper()
	srv, err := pubsubemu.Serve("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	q, err := srv.Queue(context.Background(), "aiprod-test")
	require.NoError(t, err)
	return q
}

// TestConformance runs the queue conformance suite through the production
// adapter against the project's Pub/Sub emulator (pkg/emulator/pubsub), in
// process.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queue.Queue { return newEmulatorQueue(t) })
}

// TestConformanceExternalEmulator runs the suite against the emulator named
// by PUBSUB_EMULATOR_HOST too, when one is set (project GOOGLE_CLOUD_PROJECT
// or aiprod-test): Google's own emulator (gcloud beta emulators pubsub
// start, or the cloud-pubsub-emulator launcher of the Debian package
// google-cloud-cli-pubsub-emulator) checks that ours behaves like it.
func TestConformanceExternalEmulator(t *testing.T) {
	t.Parallel()
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		t.Skip("PUBSUB_EMULATOR_HOST not set: the suite ran against the in-process emulator (TestConformance); " +
			"export it to also run against another emulator, e.g. gcloud beta emulators pubsub start")
	}
	project := os.Getenv("GOOGLE_CLOUD_PROJECT")
	if project == "" {
		project = "aiprod-test"
	}
	queuetest.Run(t, func(t *testing.T) queue.Queue {
		q, err := gcppubsub.New(context.Background(), project)
		require.NoError(t, err)
		return q
	})
}

func TestEnsureSubscriptionConfig(t *testing.T) {
	t.Parallel()
	q := newEmulatorQueue(t)
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	require.NoError(t, q.EnsureTopic(ctx, "jobs"))
	require.NoError(t, q.EnsureTopic(ctx, "projects/aiprod-test/topics/jobs-dlq"))
	require.NoError(t, q.EnsureSubscription(ctx, queue.SubscriptionConfig{
		Name: "router", Topic: "jobs", AckDeadline: 59500 * time.Millisecond,
		DeadLetterTopic: "jobs-dlq", MaxDeliveryAttempts: 7,
		MinBackoff: 2 * time.Second, MaxBackoff: time.Minute,
	}))
	require.NoError(t, q.EnsureSubscription(ctx, queue.SubscriptionConfig{Name: "plain", Topic: "jobs-dlq"}))
	// Existing: left as it is.
	require.NoError(t, q.EnsureSubscription(ctx, queue.SubscriptionConfig{Name: "router", Topic: "jobs", AckDeadline: time.Minute}))

	admin := q.Client().SubscriptionAdminClient
	got, err := admin.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/aiprod-test/subscriptions/router"})
	require.NoError(t, err)
	assert.Equal(t, "projects/aiprod-test/topics/jobs", got.GetTopic())
	assert.Equal(t, int32(60), got.GetAckDeadlineSeconds(), "rounded up")
	assert.Equal(t, "projects/aiprod-test/topics/jobs-dlq", got.GetDeadLetterPolicy().GetDeadLetterTopic())
	assert.Equal(t, int32(7), got.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
	assert.Equal(t, 2*time.Second, got.GetRetryPolicy().GetMinimumBackoff().AsDuration())
	assert.Equal(t, time.Minute, got.GetRetryPolicy().GetMaximumBackoff().AsDuration())
	if assert.NotNil(t, got.GetExpirationPolicy(), "an expiration policy without TTL: never expires") {
		assert.Nil(t, got.GetExpirationPolicy().GetTtl())
	}

	got, err = admin.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/aiprod-test/subscriptions/plain"})
	require.NoError(t, err)
	assert.Equal(t, int32(10), got.GetAckDeadlineSeconds(), "Pub/Sub's default")
	assert.Nil(t, got.GetDeadLetterPolicy())
	assert.Nil(t, got.GetRetryPolicy())
}

func TestDeliveryAttemptWithoutDeadLetterPolicy(t *testing.T) {
	t.Parallel()
	q := newEmulatorQueue(t)
	t.Cleanup(func() { _ = q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), queuetest.Timeout)
	defer cancel()
	require.NoError(t, q.EnsureTopic(ctx, "events"))
	require.NoError(t, q.EnsureSubscription(ctx, queue.SubscriptionConfig{Name: "notifier", Topic: "events"}))
	_, err := q.Publish(ctx, "events", queue.Message{Data: []byte("x")})
	require.NoError(t, err)

	got := make(chan int, 1)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	defer func() {
		stop()
		assert.NoError(t, <-done)
	}()
	go func() {
		done <- q.Receive(rctx, "notifier", queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
			m.Ack()
			got <- m.DeliveryAttempt
		})
	}()
	select {
	case n := <-got:
		assert.Zero(t, n, "Pub/Sub only counts attempts with a dead-letter policy")
	case <-ctx.Done():
		t.Fatal("no message")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	q := newEmulatorQueue(t)
	ctx := context.Background()
	require.NoError(t, q.EnsureTopic(ctx, "jobs"))
	_, err := q.Publish(ctx, "jobs", queue.Message{Data: []byte("x")})
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close(), "second Close")
	_, err = q.Publish(ctx, "jobs", queue.Message{Data: []byte("x")})
	assert.ErrorIs(t, err, errclass.Permanent)
	err = q.Receive(ctx, "sub", queue.ReceiveOptions{}, func(context.Context, *queue.Message) {})
	assert.ErrorIs(t, err, errclass.Permanent)
}
