package pubsubemu

import (
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/aiprod/aiprod/pkg/queue/filter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Pub/Sub's defaults and limits for a subscription.
const (
	ackDeadlineDefault = 10 * time.Second
	ackDeadlineMin     = 10 * time.Second
	ackDeadlineMax     = 600 * time.Second
	retentionDefault   = 7 * 24 * time.Hour
	retentionMin       = 10 * time.Minute
	retentionMax       = 7 * 24 * time.Hour
	maxAttemptsDefault = 5
	maxAttemptsMin     = 5
	maxAttemptsMax     = 100
	minBackoffDefault  = 10 * time.Second
	maxBackoffDefault  = 600 * time.Second
	backoffMax         = 600 * time.Second
)

// subConfig is the part of a subscription's configuration that delivery
// reads, checked and with defaults applied.
type subConfig struct {
	ackDeadline time.Duration
	retention   time.Duration
	// deadLetterTopic is the full name of the dead-letter topic; "" for
	// none. DeliveryAttempt is only reported with one, as Pub/Sub does.
	deadLetterTopic string
	maxAttempts     int32
	// retry: a retry policy is set; failed deliveries wait
	// minBackoff·2^(attempts-1), at most maxBackoff. Without one they are
	// delivered again at once.
	retry                  bool
	minBackoff, maxBackoff time.Duration
	// filter selects the messages held for the subscription (Pub/Sub's
	// filter language on attributes; package queue/filter).
	filter filter.Filter
}

// normalize checks a subscription's configuration, fills Pub/Sub's
// defaults into p (as GetSubscription shows them) and returns what delivery
// needs. Features the emulator does not implement are Unimplemented, not
// silently ignored.
func normalize(p *pubsubpb.Subscription) (subConfig, error) {
	if err := unsupported(p); err != nil {
		return subConfig{}, err
	}
	var c subConfig
	f, err := filter.Parse(p.GetFilter())
	if err != nil {
		return c, status.Errorf(codes.InvalidArgument, "invalid filter: %v", err)
	}
	c.filter = f
	if p.AckDeadlineSeconds == 0 {
		p.AckDeadlineSeconds = int32(ackDeadlineDefault / time.Second)
	}
	c.ackDeadline = time.Duration(p.AckDeadlineSeconds) * time.Second
	if c.ackDeadline < ackDeadlineMin || c.ackDeadline > ackDeadlineMax {
		return c, status.Errorf(codes.InvalidArgument, "ack_deadline_seconds %d is not in [10, 600]", p.AckDeadlineSeconds)
	}
	if p.MessageRetentionDuration == nil {
		p.MessageRetentionDuration = durationpb.New(retentionDefault)
	}
	c.retention = p.MessageRetentionDuration.AsDuration()
	if c.retention < retentionMin || c.retention > retentionMax {
		return c, status.Errorf(codes.InvalidArgument, "message_retention_duration %s is not in [10m, 7d]", c.retention)
	}
	if d := p.DeadLetterPolicy; d != nil && d.DeadLetterTopic != "" {
		if _, err := checkName(d.DeadLetterTopic, "topics"); err != nil {
			return c, err
		}
		if d.MaxDeliveryAttempts == 0 {
			d.MaxDeliveryAttempts = maxAttemptsDefault
		}
		if d.MaxDeliveryAttempts < maxAttemptsMin || d.MaxDeliveryAttempts > maxAttemptsMax {
			return c, status.Errorf(codes.InvalidArgument, "max_delivery_attempts %d is not in [5, 100]", d.MaxDeliveryAttempts)
		}
		c.deadLetterTopic, c.maxAttempts = d.DeadLetterTopic, d.MaxDeliveryAttempts
	} else {
		p.DeadLetterPolicy = nil
	}
	if r := p.RetryPolicy; r != nil {
		if r.MinimumBackoff == nil {
			r.MinimumBackoff = durationpb.New(minBackoffDefault)
		}
		if r.MaximumBackoff == nil {
			r.MaximumBackoff = durationpb.New(maxBackoffDefault)
		}
		c.retry, c.minBackoff, c.maxBackoff = true, r.MinimumBackoff.AsDuration(), r.MaximumBackoff.AsDuration()
		if c.minBackoff < 0 || c.maxBackoff > backoffMax || c.minBackoff > c.maxBackoff {
			return c, status.Errorf(codes.InvalidArgument, "retry_policy backoff [%s, %s] is not within [0, 600s] in order", c.minBackoff, c.maxBackoff)
		}
	}
	p.State = pubsubpb.Subscription_ACTIVE
	return c, nil
}

// unsupported rejects what would change delivery in ways the emulator does
// not implement.
func unsupported(p *pubsubpb.Subscription) error {
	var what string
	switch {
	case p.GetPushConfig().GetPushEndpoint() != "":
		what = "push subscriptions (push_config)"
	case p.GetBigqueryConfig() != nil, p.GetCloudStorageConfig() != nil:
		what = "export subscriptions (bigquery_config, cloud_storage_config)"
	case p.GetEnableMessageOrdering():
		what = "message ordering"
	case p.GetEnableExactlyOnceDelivery():
		what = "exactly-once delivery"
	case len(p.GetMessageTransforms()) > 0:
		what = "message transforms"
	default:
		return nil
	}
	return status.Errorf(codes.Unimplemented, "the AIPROD Pub/Sub emulator does not implement %s", what)
}

// backoff is how long a message waits after its attempts-th failed
// delivery under a retry policy.
func (c subConfig) backoff(attempts int32) time.Duration {
	d := c.minBackoff
	for i := int32(1); i < attempts && d < c.maxBackoff; i++ {
		d *= 2
	}
	return min(d, c.maxBackoff)
}
