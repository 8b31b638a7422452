// Package pubsubemu is AIPROD's own Pub/Sub emulator: the Publisher and
// Subscriber gRPC services of google.pubsub.v1, served on an address for
// the dev stack, the tests and `aiprod emulators`. The official client
// (cloud.google.com/go/pubsub/v2, through queue/gcppubsub) talks to it
// unchanged; Server.Queue connects one to it.
//
// It replaces the client's pstest, which scans every held message of
// every subscription every 10 ms under one server-wide lock and keeps
// every message forever: at 10,000 jobs it took a core and 2–3 GB, and a
// keep-alive answered under that lock to a stalled stream froze it.
//
// # What it implements
//
//   - Topics: CreateTopic, GetTopic, ListTopics, ListTopicSubscriptions,
//     DeleteTopic (its subscriptions stay, with topic "_deleted-topic_").
//     Publish: ids in order, Pub/Sub's limits (1,000 messages and 10 MB a
//     request, data or attributes required, attribute sizes, no "goog"
//     keys).
//   - Subscriptions: CreateSubscription, GetSubscription,
//     UpdateSubscription (ack deadline, retention, dead-letter and retry
//     policies, labels, expiration policy), ListSubscriptions,
//     DeleteSubscription, with Pub/Sub's defaults shown as it shows them
//     (ack deadline 10 s, retention 7 days, 5 delivery attempts, backoff 10 s
//     to 600 s) and its ranges enforced (InvalidArgument). A missing topic
//     or dead-letter topic is NotFound.
//   - Delivery: StreamingPull (the client's max_outstanding_messages and
//     max_outstanding_bytes, the stream ack deadline, acks and deadline
//     changes on the stream, keep-alives answered), Pull (waits up to
//     PullWait for a first message), Acknowledge, ModifyAckDeadline (0
//     nacks).
//   - Dead-lettering after max_delivery_attempts failed deliveries (nack or
//     lease expiry), with Pub/Sub's CloudPubSubDeadLetter* attributes;
//     delivery_attempt is set on subscriptions with a dead-letter policy
//     only, as on Pub/Sub. A retry policy delays each redelivery by
//     minimum_backoff·2^(failures−1), at most maximum_backoff; without one a
//     failed message is ready at once.
//   - Filters on attributes (package queue/filter: attributes:KEY, =, !=,
//     hasPrefix, NOT, AND, OR): a message a subscription's filter does not
//     match is never held for it, as Pub/Sub acknowledges it at once.
//
// Push and export subscriptions, ordering keys, exactly-once delivery,
// schemas, snapshots and Seek are not implemented: asking for them is
// Unimplemented, never silently ignored.
//
// # How it holds messages
//
// A published message is stored once, shared read-only by every
// subscription of its topic. Each subscription has its own lock and its
// own state: a map of held messages (a small struct each), a ready list
// (FIFO, linked through the messages) and a timer heap ordered by each
// message's next due time — its lease's end, its backoff's end, or its
// retention's end while it waits. One timer per subscription is set for the
// top of the heap. Delivery is event-driven: a publish, ack, nack, expiry,
// a stream opening or a Pull arriving hands ready messages to receivers
// with room, under that subscription's lock only; nothing scans held
// messages periodically. An acked or dead-lettered message is freed at
// once; one past the subscription's message_retention_duration (default 7
// days) is dropped when its due time comes. The registry of names has a
// read-write lock that the hot path only reads.
//
// Each StreamingPull stream has its own sender goroutine and queue. A
// client that stops reading (stalled, or SIGKILLed before its connection
// is torn down) blocks only that sender: its leases run out and its
// messages go to other receivers, and flow control stops giving it more.
// Keep-alives are answered by the sender too, never on the receive side.
// Messages queued to a stream that closes before sending them are ready
// again at once, their delivery not counted; messages it sent stay leased
// until acked, nacked or expired, as on Pub/Sub.
//
// Server.Stats counts what a subscription holds, for tests.
package pubsubemu
