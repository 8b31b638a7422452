package gcppubsub

import (
	"context"
	"math"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// PullWait bounds how long one Pull waits for a message when none is
// available. Pub/Sub holds a Pull without messages for a bounded time of its
// choosing (pkg/emulator/pubsub for 500ms, Google's emulator a few seconds);
// past PullWait, Pull gives up and returns none.
const PullWait = 5 * time.Second

// ackIDsPerRequest is the most ack ids sent in one Acknowledge or
// ModifyAckDeadline request, well under Pub/Sub's 512 KB request limit.
const ackIDsPerRequest = 1000

var _ queue.Puller = (*Queue)(nil)

// Pull leases up to max messages of subscription with Pub/Sub's unary Pull,
// for the subscription's ack deadline; see queue.Puller. It waits at most
// PullWait for a first message and then returns none. Unlike a streaming
// pull it has no messages in flight to a stream that is going away: what the
// server did not return stays available, except when ctx ends during the
// call (those come back when their lease expires).
func (q *Queue) Pull(ctx context.Context, subscription string, max int) ([]queue.Pulled, error) {
	if max < 1 {
		return nil, errclass.New(errclass.Permanent, "gcppubsub: pull from %s: max must be at least 1, got %d", subscription, max)
	}
	if err := q.open(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, PullWait)
	defer cancel()
	resp, err := q.client.SubscriptionAdminClient.Pull(wctx, &pubsubpb.PullRequest{
		Subscription: q.subscriptionName(subscription),
		MaxMessages:  int32(min(max, math.MaxInt32)),
	})
	switch {
	case err == nil:
	case ctx.Err() == nil && wctx.Err() != nil:
		return nil, nil // nothing within PullWait
	default:
		return nil, classify(err, "gcppubsub: pull from "+subscription)
	}
	out := make([]queue.Pulled, 0, len(resp.GetReceivedMessages()))
	for _, rm := range resp.GetReceivedMessages() {
		pm := rm.GetMessage()
		out = append(out, queue.Pulled{AckID: rm.GetAckId(), Message: queue.Message{
			ID:              pm.GetMessageId(),
			Data:            pm.GetData(),
			Attributes:      pm.GetAttributes(),
			PublishTime:     pm.GetPublishTime().AsTime(),
			DeliveryAttempt: int(rm.GetDeliveryAttempt()),
		}})
	}
	return out, nil
}

// Ack acknowledges deliveries with Acknowledge; see queue.Puller.
func (q *Queue) Ack(ctx context.Context, subscription string, ackIDs ...string) error {
	return q.eachBatch(ackIDs, "gcppubsub: ack on "+subscription, func(ids []string) error {
		return q.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{
			Subscription: q.subscriptionName(subscription), AckIds: ids,
		})
	})
}

// Nack ends deliveries with ModifyAckDeadline 0; see queue.Puller.
func (q *Queue) Nack(ctx context.Context, subscription string, ackIDs ...string) error {
	return q.modifyAckDeadline(ctx, subscription, 0, ackIDs, "gcppubsub: nack on "+subscription)
}

// ExtendDeadline sets the leases of deliveries with ModifyAckDeadline, d
// rounded up to whole seconds; see queue.Puller.
func (q *Queue) ExtendDeadline(ctx context.Context, subscription string, d time.Duration, ackIDs ...string) error {
	if d <= 0 || d > queue.MaxLease {
		return errclass.New(errclass.Permanent, "gcppubsub: extend deadline on %s: %s is not in (0, %s]", subscription, d, queue.MaxLease)
	}
	secs := int32((d + time.Second - 1) / time.Second)
	return q.modifyAckDeadline(ctx, subscription, secs, ackIDs, "gcppubsub: extend deadline on "+subscription)
}

func (q *Queue) modifyAckDeadline(ctx context.Context, subscription string, secs int32, ackIDs []string, msg string) error {
	return q.eachBatch(ackIDs, msg, func(ids []string) error {
		return q.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: q.subscriptionName(subscription), AckIds: ids, AckDeadlineSeconds: secs,
		})
	})
}

// eachBatch calls send with ackIDs in batches of at most ackIDsPerRequest
// and returns the first error, classified; nothing is sent for no ack ids.
func (q *Queue) eachBatch(ackIDs []string, msg string, send func(ids []string) error) error {
	if err := q.open(); err != nil {
		return err
	}
	for len(ackIDs) > 0 {
		n := min(len(ackIDs), ackIDsPerRequest)
		if err := send(ackIDs[:n]); err != nil {
			return classify(err, msg)
		}
		ackIDs = ackIDs[n:]
	}
	return nil
}
