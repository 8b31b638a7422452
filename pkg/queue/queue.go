// Package queue is AIPROD's port to a message queue with Pub/Sub semantics:
// topics, subscriptions, at-least-once delivery, ack/nack, dead-letter topics.
//
// # Implementations
//
//   - queue/gcppubsub: Google Cloud Pub/Sub through cloud.google.com/go/pubsub/v2,
//     in production and against an emulator (PUBSUB_EMULATOR_HOST;
//     pkg/emulator/pubsub, or Google's).
//   - queue/memqueue: in memory, for unit tests; not for production.
//
// Both pass the conformance suite in queue/queuetest.
//
// # Contract
//
// Publish returns once the queue has durably accepted the message. Receive
// calls the handler for every message of a subscription, concurrently up to
// ReceiveOptions.MaxOutstanding, until ctx is done; the handler should call
// exactly one of Ack or Nack. Returning without either counts as Nack, and
// an Ack or Nack after the handler returned has no effect. A nacked or
// never-acked message is delivered again, at least once, and after the
// subscription's max delivery attempts it goes to the subscription's
// dead-letter topic. Pub/Sub's own dead-lettering adds CloudPubSubDeadLetter*
// attributes and no reason: only DeadLetter (for messages a service refuses)
// adds reason and source_subscription. Pub/Sub sets DeliveryAttempt only on
// subscriptions with a dead-letter policy (all of AIPROD's have one). Implementations never retry a failed
// Publish by themselves beyond what their client library does; they classify
// errors with errclass.
//
// Pull (Puller) reads a subscription a batch at a time instead, for tools
// that look at a subscription without serving it (package deadletter): what
// it returns is leased until it is acked, nacked or its lease expires, and
// settled by ack id. A pulled message is a delivery like any other: it counts
// towards DeliveryAttempt and the subscription's max delivery attempts.
//
// # Topology
//
// Topology lists the topics and subscriptions of DESIGN.md; Provision creates
// the missing ones, each subscription with a dead-letter topic <topic>-dlq
// and an explicit retry policy.
package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Well-known topic and subscription names.
const (
	TopicJobs          = "aiprod-jobs"
	SubscriptionRouter = "aiprod-router"
	TopicEvents        = "aiprod-events"
	SubscriptionEvents = "aiprod-notifier"
	// SubscriptionAlerts is the notifier's second subscription to
	// aiprod-events: operator alerts, each event once, apart from the job
	// webhooks that hold their events for retries.
	SubscriptionAlerts = "aiprod-alerts"
	// TopicDLQReplay carries requests to replay dead letters, from the
	// admin API (ingest) to the router, which replays them with its own
	// identity (package deadletter, "Replay requests").
	TopicDLQReplay        = "aiprod-dlq-replay"
	SubscriptionDLQReplay = "aiprod-dlq-replay"
	DeadLetterSuffix      = "-dlq"
)

// Message attribute keys.
const (
	AttrJobID          = "job_id"
	AttrProjectID      = "project_id"
	AttrAttempt        = "attempt"
	AttrIdempotencyKey = "idempotency_key"
	AttrBackend        = "backend"
	AttrReason         = "reason"              // on dead-lettered messages: why
	AttrSourceSub      = "source_subscription" // on dead-lettered messages: where it failed
	AttrPanic          = "panic"               // on messages dead-lettered for panics: the panic value
	AttrTraceParent    = "traceparent"         // W3C trace context
	AttrTraceState     = "tracestate"
	// AttrEventType tells the system events on aiprod-events apart (budget
	// thresholds, circuit changes, dead letters, cost ledger entries); job
	// lifecycle events have none.
	AttrEventType = "event_type"
	// AttrRepublished marks an event the notifier published again to keep
	// a webhook's retries going: not news for anyone else.
	AttrRepublished = "republished"
)

// DispatchTopic is the topic of one backend's work.
func DispatchTopic(backend string) string { return "aiprod-dispatch-" + backend }

// WorkerSubscription is the subscription a backend's workers consume.
func WorkerSubscription(backend string) string { return "aiprod-worker-" + backend }

// DeadLetterTopic is the dead-letter topic of a topic.
func DeadLetterTopic(topic string) string { return topic + DeadLetterSuffix }

// Message is one message as published or received.
type Message struct {
	ID         string            // set by the queue on publish/receive
	Data       []byte            // payload
	Attributes map[string]string // small string facts: job_id, project_id, attempt, trace context
	// DeliveryAttempt counts deliveries of this message to its subscription,
	// starting at 1; 0 when the implementation does not know.
	DeliveryAttempt int
	PublishTime     time.Time

	ack  func()
	nack func()
}

// NewReceived builds a received message whose Ack and Nack call the given
// functions. It is for implementations of Subscriber.
func NewReceived(m Message, ack, nack func()) *Message {
	m.ack, m.nack = ack, nack
	return &m
}

// Ack acknowledges the message: it will not be delivered again.
func (m *Message) Ack() {
	if m.ack != nil {
		m.ack()
	}
}

// Nack asks for redelivery (after the subscription's retry backoff).
func (m *Message) Nack() {
	if m.nack != nil {
		m.nack()
	}
}

// Attr returns an attribute or "".
func (m *Message) Attr(key string) string { return m.Attributes[key] }

// Publisher publishes messages to topics. Safe for concurrent use.
type Publisher interface {
	// Publish sends m to topic and returns its server-assigned id.
	Publish(ctx context.Context, topic string, m Message) (string, error)
}

// Handler processes one received message and must Ack or Nack it.
type Handler func(ctx context.Context, m *Message)

// ReceiveOptions is flow control for Receive.
type ReceiveOptions struct {
	// MaxOutstanding is how many messages may be in the handler at once.
	MaxOutstanding int
	// MaxExtension is how long the lease of a message in the handler is
	// extended at most; past it the queue may deliver it again.
	MaxExtension time.Duration
}

// Defaults of ReceiveOptions.
const (
	MaxOutstandingDefault = 16
	MaxExtensionDefault   = 15 * time.Minute
)

// WithDefaults fills zero fields.
func (o ReceiveOptions) WithDefaults() ReceiveOptions {
	if o.MaxOutstanding <= 0 {
		o.MaxOutstanding = MaxOutstandingDefault
	}
	if o.MaxExtension == 0 {
		o.MaxExtension = MaxExtensionDefault
	}
	return o
}

// Subscriber receives from subscriptions.
type Subscriber interface {
	// Receive calls h for each message of subscription until ctx is done or
	// a non-recoverable error occurs. It returns nil when ctx was canceled.
	// When it returns, no handler call is still running.
	Receive(ctx context.Context, subscription string, opts ReceiveOptions, h Handler) error
}

// MaxLease is the longest lease Puller.ExtendDeadline grants: Pub/Sub's
// longest ack deadline.
const MaxLease = 600 * time.Second

// Pulled is one delivery returned by Puller.Pull.
type Pulled struct {
	// AckID names this delivery to Ack, Nack and ExtendDeadline on the
	// subscription it was pulled from. Another delivery of the same message
	// has another AckID.
	AckID string
	// Message is the message: ID, Data, Attributes, DeliveryAttempt and
	// PublishTime. Its Ack and Nack do nothing: a pulled message is settled
	// through the Puller, by AckID.
	Message Message
}

// Puller reads a subscription one batch at a time (unary pull), for tools
// that read a subscription without serving it: dead-letter listing and
// replay. Services that consume a subscription use Subscriber. A Puller is
// safe for concurrent use, and Pull and Receive may share a subscription.
//
// Pull leases what it returns for the subscription's ack deadline. A leased
// message is delivered to no one else until its lease ends, by Ack (it is
// not delivered again), by Nack or by expiry when it was not extended in
// time (both a failed delivery: it is delivered again after the
// subscription's retry backoff, or, on a subscription with a dead-letter
// policy, dead-lettered after MaxDeliveryAttempts failed deliveries, exactly
// as with Receive). Each Pull of a message is a delivery and raises its
// DeliveryAttempt.
//
// Ack, Nack and ExtendDeadline take ack ids Pull returned for the same
// subscription; with none they do nothing. An ack id whose delivery already
// ended (settled, expired, or the message was delivered again) is ignored,
// except that an Ack may still remove a message whose lease expired and which
// was not delivered again yet, as Pub/Sub does.
//
// Implementations never retry; they classify errors with errclass: a missing
// subscription is errclass.NotFound, an invalid argument (max < 1, a lease
// out of range, a malformed ack id) errclass.Permanent, a closed queue
// errclass.Permanent, and ctx's end errclass.Retryable.
type Puller interface {
	// Pull leases and returns up to max (at least 1) messages of
	// subscription. When none is available it waits a short time for one
	// (a few seconds at most), then returns what it has, possibly
	// none with a nil error: none does not prove that the subscription is
	// empty, only that nothing came in that time. When ctx ends first it
	// returns ctx's error, classified errclass.Retryable; on Pub/Sub,
	// messages the server leased to such a canceled Pull come back only
	// when their lease expires.
	Pull(ctx context.Context, subscription string, max int) ([]Pulled, error)
	// Ack acknowledges deliveries: their messages are removed from the
	// subscription.
	Ack(ctx context.Context, subscription string, ackIDs ...string) error
	// Nack ends deliveries unsuccessfully, as Message.Nack does: their
	// messages are available again after the subscription's retry backoff
	// (at once without a retry policy) or are dead-lettered.
	Nack(ctx context.Context, subscription string, ackIDs ...string) error
	// ExtendDeadline makes the leases of deliveries end d from now, which
	// may also shorten them; 0 < d <= MaxLease (Pub/Sub rounds d up to
	// whole seconds). A lease that already expired may not be extended:
	// its message may be delivered again.
	ExtendDeadline(ctx context.Context, subscription string, d time.Duration, ackIDs ...string) error
}

// SubscriptionConfig describes one subscription.
type SubscriptionConfig struct {
	Name  string
	Topic string
	// AckDeadline (10s..600s) matters for unary pull; with streaming pull the
	// client's lease extensions (gcppubsub.LeaseExtensionPeriod) decide when
	// a crashed consumer's messages come back.
	AckDeadline         time.Duration
	DeadLetterTopic     string        // "" for none (only dead-letter subscriptions themselves)
	MaxDeliveryAttempts int           // 5..100, with DeadLetterTopic
	MinBackoff          time.Duration // retry policy
	MaxBackoff          time.Duration
	// Filter, when set, is a Pub/Sub filter on attributes (package
	// queue/filter has the grammar): only the messages it matches are
	// delivered. Pub/Sub fixes it when the subscription is created.
	Filter string
}

// Provisioner creates topics and subscriptions that do not exist yet. It is
// idempotent: existing ones are left as they are.
type Provisioner interface {
	EnsureTopic(ctx context.Context, name string) error
	EnsureSubscription(ctx context.Context, cfg SubscriptionConfig) error
}

// TopicChecker tells whether a topic exists: one cheap call that proves
// the queue answers, for readiness checks (GET /readyz). Safe for
// concurrent use.
type TopicChecker interface {
	// CheckTopic returns nil when topic exists and errclass.NotFound when
	// it does not; otherwise the classified reason it cannot tell (ctx's
	// end or an unreachable service errclass.Retryable, a closed queue
	// errclass.Permanent, a missing permission errclass.Unauthenticated).
	CheckTopic(ctx context.Context, topic string) error
}

// Queue is a whole queue implementation.
type Queue interface {
	Publisher
	Subscriber
	Puller
	Provisioner
	TopicChecker
	Close() error
}

// Retry policy and delivery defaults of every AIPROD subscription.
const (
	AckDeadlineDefault         = 60 * time.Second
	MaxDeliveryAttemptsDefault = 10
	MinBackoffDefault          = 1 * time.Second
	MaxBackoffDefault          = 60 * time.Second
)

// The filters of the subscriptions to aiprod-events: the notifier's
// webhooks read job lifecycle events only (those without an event_type
// attribute), its alerts every event but the cost ledger's entries (one per
// settled attempt, for the warehouse).
const (
	// EventTypeLedgerEntry is the event_type of a cost ledger entry
	// published to aiprod-events (budget.LedgerEvent).
	EventTypeLedgerEntry = "cost.ledger_entry"

	FilterLifecycle = "NOT attributes:" + AttrEventType
	FilterNotLedger = "NOT attributes." + AttrEventType + ` = "` + EventTypeLedgerEntry + `"`
)

// Topology returns the subscriptions of the system for the given backends:
// aiprod-jobs → aiprod-router, aiprod-events → aiprod-notifier,
// aiprod-dlq-replay → aiprod-dlq-replay (router), aiprod-dispatch-<b> →
// aiprod-worker-<b>, each with <topic>-dlq, and on each dead-letter topic a
// subscription of the same name for inspection/replay.
func Topology(backends []string) []SubscriptionConfig {
	main := []SubscriptionConfig{
		{Name: SubscriptionRouter, Topic: TopicJobs},
		{Name: SubscriptionEvents, Topic: TopicEvents, Filter: FilterLifecycle},
		{Name: SubscriptionAlerts, Topic: TopicEvents, Filter: FilterNotLedger},
		{Name: SubscriptionDLQReplay, Topic: TopicDLQReplay},
	}
	for _, b := range backends {
		main = append(main, SubscriptionConfig{Name: WorkerSubscription(b), Topic: DispatchTopic(b)})
	}
	var out []SubscriptionConfig
	dlqs := map[string]bool{}
	for _, s := range main {
		s.AckDeadline = AckDeadlineDefault
		s.DeadLetterTopic = DeadLetterTopic(s.Topic)
		s.MaxDeliveryAttempts = MaxDeliveryAttemptsDefault
		s.MinBackoff, s.MaxBackoff = MinBackoffDefault, MaxBackoffDefault
		out = append(out, s)
		if dlqs[s.DeadLetterTopic] {
			continue // two subscriptions of one topic share its dead-letter topic
		}
		dlqs[s.DeadLetterTopic] = true
		// Dead-letter subscriptions are read by people and replay tools:
		// no retry policy (a listed-then-released message is back at once)
		// and no dead-letter policy of their own.
		out = append(out, SubscriptionConfig{Name: s.DeadLetterTopic, Topic: s.DeadLetterTopic, AckDeadline: AckDeadlineDefault})
	}
	return out
}

// Provision creates every topic and subscription of subs (dead-letter topics
// first, since subscriptions refer to them).
func Provision(ctx context.Context, p Provisioner, subs []SubscriptionConfig) error {
	for _, s := range subs {
		if s.DeadLetterTopic != "" {
			if err := p.EnsureTopic(ctx, s.DeadLetterTopic); err != nil {
				return fmt.Errorf("provision topic %s: %w", s.DeadLetterTopic, err)
			}
		}
		if err := p.EnsureTopic(ctx, s.Topic); err != nil {
			return fmt.Errorf("provision topic %s: %w", s.Topic, err)
		}
	}
	for _, s := range subs {
		if err := p.EnsureSubscription(ctx, s); err != nil {
			return fmt.Errorf("provision subscription %s: %w", s.Name, err)
		}
	}
	return nil
}

// DeadLetter publishes a copy of m to deadLetterTopic with the reason and the
// source subscription as attributes. The caller acks m after it returns nil;
// on error it nacks m so the message is not lost.
func DeadLetter(ctx context.Context, p Publisher, deadLetterTopic, sourceSub string, m *Message, reason string) error {
	attrs := make(map[string]string, len(m.Attributes)+2)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	attrs[AttrReason] = strings.ToValidUTF8(reason, "?")
	attrs[AttrSourceSub] = sourceSub
	_, err := p.Publish(ctx, deadLetterTopic, Message{Data: m.Data, Attributes: attrs})
	if err != nil {
		return fmt.Errorf("dead-letter message %s to %s: %w", m.ID, deadLetterTopic, err)
	}
	return nil
}

// PublishEvent publishes a system event to aiprod-events: v as JSON, with
// attributes event_type and, when set, project_id. p should be traced
// (telemetry.Traced) so the event joins the caller's trace.
func PublishEvent(ctx context.Context, p Publisher, eventType, projectID string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", eventType, err)
	}
	attrs := map[string]string{AttrEventType: eventType}
	if projectID != "" {
		attrs[AttrProjectID] = projectID
	}
	if _, err := p.Publish(ctx, TopicEvents, Message{Data: data, Attributes: attrs}); err != nil {
		return fmt.Errorf("publish %s event: %w", eventType, err)
	}
	return nil
}
