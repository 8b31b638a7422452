package gcppubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// ackDeadlineDefault is Pub/Sub's default ack deadline, used when a
// SubscriptionConfig leaves it zero.
const ackDeadlineDefault = 10 * time.Second

// LeaseExtensionPeriod is the longest step by which Receive extends the
// lease of a message in its handler, and the ack deadline of its streams
// (the client's MaxDurationPerAckExtension; its default is 60s). It bounds how
// long a message stays invisible when it was lost with a stream or a crashed
// process: Pub/Sub delivers it again at most this long after the last
// extension.
const LeaseExtensionPeriod = 10 * time.Second

// Queue is a queue.Queue over Google Cloud Pub/Sub. The zero value is not
// usable; call New. It is safe for concurrent use.
type Queue struct {
	client *pubsub.Client

	mu         sync.Mutex
	closed     bool
	publishers map[string]*pubsub.Publisher // by full topic name
}

var _ queue.Queue = (*Queue)(nil)

// New connects to Pub/Sub in projectID. It honours PUBSUB_EMULATOR_HOST. ctx
// is only used to connect. The caller must Close the Queue.
func New(ctx context.Context, projectID string, opts ...option.ClientOption) (*Queue, error) {
	c, err := pubsub.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, classify(err, fmt.Sprintf("gcppubsub: connect to project %s", projectID))
	}
	return &Queue{client: c, publishers: map[string]*pubsub.Publisher{}}, nil
}

// Client returns the underlying client, for what the queue port does not
// cover (for example seeking a subscription). It stays owned by the Queue.
func (q *Queue) Client() *pubsub.Client { return q.client }

var errClosed = errclass.New(errclass.Permanent, "gcppubsub: queue is closed")

// open returns errClosed once the Queue is closed.
func (q *Queue) open() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errClosed
	}
	return nil
}

func (q *Queue) topicName(name string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return "projects/" + q.client.Project() + "/topics/" + name
}

func (q *Queue) subscriptionName(name string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return "projects/" + q.client.Project() + "/subscriptions/" + name
}

// publisher returns the cached publisher of topic.
func (q *Queue) publisher(topic string) (*pubsub.Publisher, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, errClosed
	}
	name := q.topicName(topic)
	p := q.publishers[name]
	if p == nil {
		p = q.client.Publisher(name)
		p.PublishSettings.DelayThreshold = PublishDelay
		q.publishers[name] = p
	}
	return p, nil
}

// PublishDelay is how long a publisher waits for more messages to batch
// with the first one it holds (the client's default is 10 ms). Every caller
// of Publish waits for its message's acknowledgement — ingest answers 202
// only once the job is published — so at low rates each one would pay the
// whole delay; 1 ms keeps batching under load (a batch still leaves at 100
// messages) at a tenth of the latency floor.
const PublishDelay = time.Millisecond

// Publish sends m's Data and Attributes to topic and returns the id the
// server assigned, once the server accepted the message or ctx is done. A
// missing topic is errclass.NotFound.
func (q *Queue) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	p, err := q.publisher(topic)
	if err != nil {
		return "", err
	}
	id, err := p.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes}).Get(ctx)
	if err != nil {
		return "", classify(err, "gcppubsub: publish to "+topic)
	}
	return id, nil
}

// Receive calls h for every message of subscription until ctx is done; see
// queue.Subscriber. A message that h neither acked nor nacked when it returns
// is nacked. Receive returns nil once ctx is done and every handler call
// returned, errclass.NotFound for a missing subscription, and other errors
// classified. The handler's ctx is canceled when Receive stops.
func (q *Queue) Receive(ctx context.Context, subscription string, opts queue.ReceiveOptions, h queue.Handler) error {
	if err := q.open(); err != nil {
		return err
	}
	opts = opts.WithDefaults()
	s := q.client.Subscriber(q.subscriptionName(subscription))
	s.ReceiveSettings.MaxOutstandingMessages = opts.MaxOutstanding
	s.ReceiveSettings.MaxExtension = opts.MaxExtension
	s.ReceiveSettings.MaxDurationPerAckExtension = LeaseExtensionPeriod
	err := s.Receive(ctx, func(ctx context.Context, pm *pubsub.Message) {
		m := queue.Message{
			ID:          pm.ID,
			Data:        pm.Data,
			Attributes:  pm.Attributes,
			PublishTime: pm.PublishTime,
		}
		if pm.DeliveryAttempt != nil {
			m.DeliveryAttempt = *pm.DeliveryAttempt
		}
		h(ctx, queue.NewReceived(m, pm.Ack, pm.Nack))
		// A message h did not settle would stay leased until MaxExtension,
		// and the client's Receive would wait for it on shutdown. Only the
		// first Ack or Nack counts, so this is a no-op when h settled it.
		pm.Nack()
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return classify(err, "gcppubsub: receive from "+subscription)
	}
	return nil
}

// EnsureTopic creates topic name unless it exists.
func (q *Queue) EnsureTopic(ctx context.Context, name string) error {
	_, err := q.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: q.topicName(name)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return classify(err, "gcppubsub: create topic "+name)
	}
	return nil
}

// CheckTopic returns nil when topic name exists, errclass.NotFound when it
// does not; see queue.TopicChecker. It needs pubsub.topics.get on the
// topic (roles/pubsub.viewer), which roles/pubsub.publisher lacks.
func (q *Queue) CheckTopic(ctx context.Context, name string) error {
	if err := q.open(); err != nil {
		return err
	}
	_, err := q.client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: q.topicName(name)})
	return classify(err, "gcppubsub: check topic "+name)
}

// EnsureSubscription creates subscription cfg.Name unless it exists; an
// existing one is left as it is. The topic and dead-letter topic must exist
// (errclass.NotFound).
func (q *Queue) EnsureSubscription(ctx context.Context, cfg queue.SubscriptionConfig) error {
	_, err := q.client.SubscriptionAdminClient.CreateSubscription(ctx, q.subscriptionProto(cfg))
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return classify(err, "gcppubsub: create subscription "+cfg.Name)
	}
	return nil
}

func (q *Queue) subscriptionProto(cfg queue.SubscriptionConfig) *pubsubpb.Subscription {
	ack := cfg.AckDeadline
	if ack <= 0 {
		ack = ackDeadlineDefault
	}
	s := &pubsubpb.Subscription{
		Name:               q.subscriptionName(cfg.Name),
		Topic:              q.topicName(cfg.Topic),
		AckDeadlineSeconds: int32((ack + time.Second - 1) / time.Second),
		// Set without a TTL: the subscription never expires. Left unset,
		// Pub/Sub deletes a subscription after 31 idle days, and the
		// dead-letter subscriptions are idle by design.
		ExpirationPolicy: &pubsubpb.ExpirationPolicy{},
		Filter:           cfg.Filter,
	}
	if cfg.DeadLetterTopic != "" {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     q.topicName(cfg.DeadLetterTopic),
			MaxDeliveryAttempts: int32(cfg.MaxDeliveryAttempts),
		}
	}
	if cfg.MinBackoff > 0 || cfg.MaxBackoff > 0 {
		s.RetryPolicy = &pubsubpb.RetryPolicy{}
		if cfg.MinBackoff > 0 {
			s.RetryPolicy.MinimumBackoff = durationpb.New(cfg.MinBackoff)
		}
		if cfg.MaxBackoff > 0 {
			s.RetryPolicy.MaximumBackoff = durationpb.New(cfg.MaxBackoff)
		}
	}
	return s
}

// Close stops every publisher, which sends what they still hold, and closes
// the client. Later calls fail with errclass.Permanent. Idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	pubs := q.publishers
	q.publishers = nil
	q.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(p.Stop)
	}
	wg.Wait()
	if err := q.client.Close(); err != nil {
		return fmt.Errorf("gcppubsub: close: %w", err)
	}
	return nil
}

// classify wraps err with its errclass class; see the package doc. It is the
// one place where gRPC codes become classes.
func classify(err error, msg string) error {
	if err == nil {
		return nil
	}
	var class error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		class = errclass.Retryable
	case errors.Is(err, pubsub.ErrOversizedMessage), errors.Is(err, pubsub.ErrPublisherStopped):
		class = errclass.Permanent
	default:
		class = classOf(status.Code(err))
	}
	if class == nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return errclass.Wrap(class, err, msg)
}

// classOf maps a gRPC code to an errclass class, nil for codes without one.
func classOf(c codes.Code) error {
	switch c {
	case codes.NotFound:
		return errclass.NotFound
	case codes.AlreadyExists:
		return errclass.Conflict
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		return errclass.Permanent
	case codes.Unauthenticated, codes.PermissionDenied:
		return errclass.Unauthenticated
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Canceled:
		return errclass.Retryable
	}
	return nil
}
