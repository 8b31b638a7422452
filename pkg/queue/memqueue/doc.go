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
//   - A delivered message is leased for the subscription's AckDeadline; the
//     lease is extended while the Receive call that got it runs, up to
//     ReceiveOptions.MaxExtension after delivery (a negative MaxExtension
//     disables extension, as in the Pub/Sub client). An expired lease counts as
//     a failed delivery, like a Nack. When Receive returns, the leases of the
//     messages it still holds end at once, so they are delivered again later.
//   - Message.DeliveryAttempt counts deliveries to the subscription, starting
//     at 1. (Pub/Sub only sets it on subscriptions with a dead-letter policy;
//     memqueue always does.)
//   - After MaxDeliveryAttempts failed deliveries the message is published to
//     the subscription's DeadLetterTopic with the same data and attributes and
//     removed from the subscription. Like Pub/Sub, memqueue adds no reason
//     attribute; queue.DeadLetter does that for explicit dead-lettering.
//   - An Ack or Nack of a delivery that has since been redelivered, or a
//     second Ack or Nack of the same delivery, is ignored.
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
