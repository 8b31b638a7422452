// Package memqueue is an in-memory queue.Queue for unit tests. It is not for
// production: nothing is persisted, and everything is lost with the process.
//
// # Semantics
//
// memqueue follows Google Cloud Pub/Sub closely enough that at-least-once
// bugs show up in tests:
//
//   - A topic fans out every message to all of its subscriptions. A message
//     published before a subscription exists is not delivered to it.
//   - Receive calls the handler concurrently, up to
//     ReceiveOptions.MaxOutstanding calls at once, in publish order as far as
//     concurrency allows (Pub/Sub guarantees no order; do not rely on it).
//   - Ack removes the message. Nack makes it available again after the
//     retry backoff: MinBackoff·2^(attempt-1), capped at MaxBackoff, taken
//     from the SubscriptionConfig or from WithBackoff.
//   - A handler that returns without Ack or Nack nacks the message; an Ack or
//     Nack after that has no effect. (The Pub/Sub client would keep the
//     message leased until MaxExtension and make Receive wait for it on
//     shutdown; gcppubsub nacks it too.)
//   - A delivered message is leased for the subscription's AckDeadline,
//     extended while the handler runs up to ReceiveOptions.MaxExtension after
//     delivery (a negative MaxExtension disables extension, as in the Pub/Sub
//     client). When the lease expires before the handler settles the message,
//     the delivery has failed, like a Nack: the message is delivered again,
//     possibly while the first handler call still runs.
//   - Message.DeliveryAttempt counts deliveries to the subscription, starting
//     at 1. (Pub/Sub only sets it on subscriptions with a dead-letter policy;
//     memqueue always does.)
//   - After MaxDeliveryAttempts failed deliveries the message is published to
//     the subscription's DeadLetterTopic with the same data and attributes and
//     removed from the subscription. Like Pub/Sub, memqueue adds no reason
//     attribute; queue.DeadLetter does that for explicit dead-lettering.
//   - Only the first Ack or Nack of a delivery counts, and only while the
//     delivery is current; an Ack of an expired delivery not yet redelivered
//     still removes the message, as Pub/Sub often does.
//   - Pull (queue.Puller) leases up to max available messages in publish
//     order for the subscription's AckDeadline, waiting up to PullWait for a
//     first one. A pulled message is a delivery like one of Receive: it
//     raises DeliveryAttempt, and Nack (with the retry backoff) or an expired
//     lease fails it, up to dead-lettering. Ack ids are "<message id>:<n>",
//     n counting the message's deliveries; one of an older delivery is
//     ignored, a malformed one is errclass.Permanent. ExtendDeadline takes
//     any positive duration up to queue.MaxLease, below a second too.
//   - Publish validates messages like Pub/Sub does (non-empty, at most 100
//     attributes, key and value sizes, 10 MB of data) and classifies errors with
//     errclass: a missing topic or subscription is errclass.NotFound, an
//     invalid message or name errclass.Permanent.
//
// Unlike Pub/Sub, memqueue accepts any positive AckDeadline and backoff, so
// tests can use milliseconds. WithBackoff and WithAckDeadline override the
// values of every subscription, which lets tests use queue.Topology unchanged.
//
// # Test helpers
//
// Published returns everything ever published to a topic, including messages
// forwarded to dead-letter topics; Pending returns how many messages of a
// subscription are neither acked nor dead-lettered.
//
// A Queue is safe for concurrent use.
package memqueue
