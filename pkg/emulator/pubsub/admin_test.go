package pubsubemu

import (
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// A subscription shows Pub/Sub's defaults for what its creator left out.
func TestSubscriptionDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.topic("top-dlq")
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: topicName("top-dlq")}
		s.RetryPolicy = &pubsubpb.RetryPolicy{}
	})
	got, err := e.sub.GetSubscription(e.ctx, &pubsubpb.GetSubscriptionRequest{Subscription: sub})
	require.NoError(t, err)
	assert.Equal(t, topicName("top"), got.GetTopic())
	assert.Equal(t, int32(10), got.GetAckDeadlineSeconds())
	assert.Equal(t, 7*24*time.Hour, got.GetMessageRetentionDuration().AsDuration())
	assert.Equal(t, int32(5), got.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
	assert.Equal(t, 10*time.Second, got.GetRetryPolicy().GetMinimumBackoff().AsDuration())
	assert.Equal(t, 600*time.Second, got.GetRetryPolicy().GetMaximumBackoff().AsDuration())
	assert.Equal(t, pubsubpb.Subscription_ACTIVE, got.GetState())
}

// What Pub/Sub refuses is refused with its code; what the emulator does
// not implement is Unimplemented, never ignored.
func TestCreateSubscriptionRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	top := e.topic("top")
	e.subscription("taken", top, nil)
	for name, c := range map[string]struct {
		with func(*pubsubpb.Subscription)
		code codes.Code
	}{
		"short ack deadline": {func(s *pubsubpb.Subscription) { s.AckDeadlineSeconds = 5 }, codes.InvalidArgument},
		"long retention":     {func(s *pubsubpb.Subscription) { s.MessageRetentionDuration = durationpb.New(8 * 24 * time.Hour) }, codes.InvalidArgument},
		"few attempts": {func(s *pubsubpb.Subscription) {
			s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: top, MaxDeliveryAttempts: 4}
		}, codes.InvalidArgument},
		"backoff out of order": {func(s *pubsubpb.Subscription) { s.RetryPolicy = retry(time.Minute, time.Second) }, codes.InvalidArgument},
		"bad name":             {func(s *pubsubpb.Subscription) { s.Name = "projects/p/subscriptions/x" }, codes.InvalidArgument},
		"missing topic":        {func(s *pubsubpb.Subscription) { s.Topic = topicName("missing") }, codes.NotFound},
		"missing dead letters": {func(s *pubsubpb.Subscription) {
			s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: topicName("missing")}
		}, codes.NotFound},
		"exists":                {func(s *pubsubpb.Subscription) { s.Name = subName("taken") }, codes.AlreadyExists},
		"push":                  {func(s *pubsubpb.Subscription) { s.PushConfig = &pubsubpb.PushConfig{PushEndpoint: "https://x"} }, codes.Unimplemented},
		"bad filter":            {func(s *pubsubpb.Subscription) { s.Filter = `attributes.k = v` }, codes.InvalidArgument},
		"ordering":              {func(s *pubsubpb.Subscription) { s.EnableMessageOrdering = true }, codes.Unimplemented},
		"exactly-once delivery": {func(s *pubsubpb.Subscription) { s.EnableExactlyOnceDelivery = true }, codes.Unimplemented},
	} {
		s := &pubsubpb.Subscription{Name: subName("new"), Topic: top}
		c.with(s)
		_, err := e.sub.CreateSubscription(e.ctx, s)
		assert.Equal(t, c.code, status.Code(err), "%s: %v", name, err)
	}
}

func retry(lo, hi time.Duration) *pubsubpb.RetryPolicy {
	return &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(lo), MaximumBackoff: durationpb.New(hi)}
}

// UpdateSubscription changes the fields of its mask and only those; the
// new settings apply to later deliveries.
func TestUpdateSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.subscription("sub", e.topic("top"), func(s *pubsubpb.Subscription) { s.Labels = map[string]string{"a": "b"} })
	_, err := e.sub.UpdateSubscription(e.ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: sub, AckDeadlineSeconds: 30, RetryPolicy: retry(time.Second, time.Second)},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"ack_deadline_seconds", "retry_policy"}},
	})
	require.NoError(t, err)
	got, err := e.sub.GetSubscription(e.ctx, &pubsubpb.GetSubscriptionRequest{Subscription: sub})
	require.NoError(t, err)
	assert.Equal(t, int32(30), got.GetAckDeadlineSeconds())
	assert.Equal(t, time.Second, got.GetRetryPolicy().GetMinimumBackoff().AsDuration())
	assert.Equal(t, map[string]string{"a": "b"}, got.GetLabels(), "not in the mask: unchanged")

	e.publish(topicName("top"), 1)
	rms := e.pull(sub, 1)
	e.advance(29 * time.Second)
	require.Equal(t, Stats{Held: 1, Leased: 1}, e.stats(sub), "leased for the new 30 s")
	e.modify(sub, 0, rms...)
	require.Equal(t, Stats{Held: 1, Backoff: 1}, e.stats(sub), "the new retry policy")

	for _, paths := range [][]string{nil, {"topic"}, {"filter"}} {
		_, err = e.sub.UpdateSubscription(e.ctx, &pubsubpb.UpdateSubscriptionRequest{
			Subscription: &pubsubpb.Subscription{Name: sub}, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
		})
		assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", paths)
	}
}

// Listing pages through names in order; deleting a topic leaves its
// subscriptions on "_deleted-topic_".
func TestListAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	top := e.topic("top")
	e.topic("other")
	for _, id := range []string{"sub-c", "sub-a", "sub-b"} {
		e.subscription(id, top, nil)
	}
	var names []string
	token := ""
	for {
		res, err := e.sub.ListSubscriptions(e.ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/p", PageSize: 2, PageToken: token})
		require.NoError(t, err)
		for _, s := range res.GetSubscriptions() {
			names = append(names, s.GetName())
		}
		if token = res.GetNextPageToken(); token == "" {
			break
		}
	}
	assert.Equal(t, []string{subName("sub-a"), subName("sub-b"), subName("sub-c")}, names)
	topics, err := e.pub.ListTopics(e.ctx, &pubsubpb.ListTopicsRequest{Project: "projects/p"})
	require.NoError(t, err)
	assert.Len(t, topics.GetTopics(), 2)
	subs, err := e.pub.ListTopicSubscriptions(e.ctx, &pubsubpb.ListTopicSubscriptionsRequest{Topic: top})
	require.NoError(t, err)
	assert.Len(t, subs.GetSubscriptions(), 3)

	_, err = e.pub.DeleteTopic(e.ctx, &pubsubpb.DeleteTopicRequest{Topic: top})
	require.NoError(t, err)
	got, err := e.sub.GetSubscription(e.ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subName("sub-a")})
	require.NoError(t, err)
	assert.Equal(t, "_deleted-topic_", got.GetTopic())
	_, err = e.pub.Publish(e.ctx, &pubsubpb.PublishRequest{Topic: top, Messages: []*pubsubpb.PubsubMessage{{Data: []byte("x")}}})
	assert.Equal(t, codes.NotFound, status.Code(err))
	_, err = e.pub.GetTopic(e.ctx, &pubsubpb.GetTopicRequest{Topic: top})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

// Publish applies Pub/Sub's rules to messages.
func TestPublishRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	top := e.topic("top")
	for name, c := range map[string]struct {
		msgs []*pubsubpb.PubsubMessage
		code codes.Code
	}{
		"none":          {nil, codes.InvalidArgument},
		"empty":         {[]*pubsubpb.PubsubMessage{{}}, codes.InvalidArgument},
		"reserved key":  {[]*pubsubpb.PubsubMessage{{Attributes: map[string]string{"googx": "v"}}}, codes.InvalidArgument},
		"long value":    {[]*pubsubpb.PubsubMessage{{Attributes: map[string]string{"k": string(make([]byte, 1025))}}}, codes.InvalidArgument},
		"ordering key":  {[]*pubsubpb.PubsubMessage{{Data: []byte("x"), OrderingKey: "k"}}, codes.Unimplemented},
		"only attrs ok": {[]*pubsubpb.PubsubMessage{{Attributes: map[string]string{"k": "v"}}}, codes.OK},
	} {
		_, err := e.pub.Publish(e.ctx, &pubsubpb.PublishRequest{Topic: top, Messages: c.msgs})
		assert.Equal(t, c.code, status.Code(err), "%s: %v", name, err)
	}
	_, err := e.pub.Publish(e.ctx, &pubsubpb.PublishRequest{Topic: topicName("missing"), Messages: []*pubsubpb.PubsubMessage{{Data: []byte("x")}}})
	assert.Equal(t, codes.NotFound, status.Code(err))
}
