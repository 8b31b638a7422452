// Package deadletter inspects and replays AIPROD's dead-lettered messages.
//
// Every subscription of queue.Topology has a dead-letter topic <topic>-dlq,
// and on each dead-letter topic a subscription of the same name. A message
// lands there in one of two ways:
//
//   - a service refused it (undecodable, invalid) and called
//     queue.DeadLetter, which adds the attributes reason and
//     source_subscription;
//   - Pub/Sub gave up on it after the subscription's max delivery attempts,
//     which adds CloudPubSubDeadLetter* attributes (source subscription,
//     delivery count, ...) and no reason. memqueue adds none.
//
// # Listing
//
// List pulls up to max messages from a dead-letter subscription and records
// them, holding each one (neither acked nor nacked) until the listing is
// complete, then nacks them all so they stay. Holding them means one call
// sees every message at most once. Listing ends when max messages are held,
// when a pull answers none or no new message arrived for wait (a pull has
// no "the subscription is empty" answer, so an idle wait is the only way to
// know), or when ctx is done.
//
// The package uses only the queue's ports: queue.Puller to read and settle,
// queue.Publisher to replay. It pulls a batch at a time (Pub/Sub's unary
// Pull in gcppubsub), extends the leases of what it holds to two minutes
// whatever the subscription's ack deadline, and releases them with Ack and
// Nack, even when ctx ended (bounded by a timeout of its own). A streaming
// pull would not do: one that is stopped may have messages in flight to the
// closing stream, which then stay invisible until their lease expires, so a
// second listing right after the first would miss them; what a Pull did not
// return stays available.
//
// Listing is a delivery like any other: it increments the messages'
// delivery counts. That is harmless because the dead-letter subscriptions
// have no dead-letter policy of their own: they never drop or forward a
// message, however often it is delivered. Nor do they have a retry policy
// (queue.Topology gives them none), so a listed message (nacked) can be
// listed or replayed again at once.
// Two listings of the same subscription at the same time split its
// messages between them; a listing and a Replay likewise.
//
// # Replaying
//
// Replay pulls the same way, holding what it examines (every message, or
// until it found the ids given, bounded by max messages examined), and
// only once the pulling is over (and unless ctx ended) publishes each
// selected message's data and attributes, without reason,
// source_subscription and CloudPubSubDeadLetter*, to the topic it came
// from, and acks the dead letter; the others are nacked. Publishing after pulling means that a
// poison message its consumer refuses again at once comes back as a new
// dead letter only after this Replay stopped looking, so one Replay never
// cycles it. A message whose publish fails is nacked and Replay ends with
// the error.
//
// The topic a message came from (Topic) is the dead-letter subscription's
// name without -dlq: the topology gives every subscription of <topic> the
// dead-letter topic <topic>-dlq, so that is the only topic its dead letters
// can come from. The source subscription attributes are shown, never
// trusted for it: a publisher may set any attribute, and a message Pub/Sub
// dead-lettered itself keeps the ones it was published with.
//
// Replay is safe: every stage is idempotent (a replayed job request, a
// dispatch or a lifecycle event is handled by looking at the stored job),
// so a message replayed twice, or replayed after its job moved on, does no
// harm. A message that was refused for what it is (a poison message) is
// refused again and comes back to the dead-letter topic with a new reason.
//
// # Service
//
// Service binds a queue to the dead-letter subscriptions of a topology,
// and refuses subscriptions that are not dead-letter subscriptions of the
// topology, so an admin request can never pull from a live subscription.
//
// # Replay requests
//
// Replaying publishes to the topic a letter came from, a dispatch topic
// among them; the service that answers the admin routes (GET /v1/admin/dlq,
// POST /v1/admin/dlq/replay) is ingest, which faces the internet and must
// not be able to publish dispatches (issue 13, finding 10). So the routes
// use a Remote: its List pulls the dead-letter subscriptions itself, as
// Service does (pulling needs no publish right), but its Replay publishes
// a ReplayRequest {id, subscription, ids, max} to aiprod-dlq-replay and
// waits for its outcome. The router runs a Replayer, which consumes
// aiprod-dlq-replay through the consumer layer, does the Replay with its
// own identity (it publishes dispatches anyway) and records the outcome
// (store.DLQReplays, keyed by the request id). Remote.Replay returns that
// outcome as if it had replayed itself: the admin API's answer stays
// synchronous and exact. When no outcome comes within ReplayTimeout (the
// router is down or busy) it returns Pending with the request id: the
// request stays queued and will be carried out, which is what the API then
// says (202).
//
// What ingest can do is thus ask for existing dead letters to be replayed,
// never put a message of its own on a dispatch topic: the router replays
// only what it pulls from a dead-letter subscription of the topology,
// unchanged. A request is carried out once: the Replayer records the
// outcome before it acks, and a redelivered request whose outcome exists is
// acked without replaying again (a replay whose outcome could not be
// recorded, after retries, is done again and then finds its letters gone).
// An undecodable request is dead-lettered to aiprod-dlq-replay-dlq.
package deadletter
