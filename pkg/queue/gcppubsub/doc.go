// Package gcppubsub is the queue.Queue of Google Cloud Pub/Sub, through the
// official client cloud.google.com/go/pubsub/v2.
//
// # Connecting
//
// New takes a project id and client options. When PUBSUB_EMULATOR_HOST is
// set, the client connects to that emulator without credentials; otherwise it
// uses Application Default Credentials. Against an emulator without the
// variable, pass its address with option.WithEndpoint,
// option.WithoutAuthentication and an insecure gRPC transport
// (pkg/emulator/pubsub's Server.Queue does).
//
// Topic and subscription names may be ids ("aiprod-jobs"), which are taken
// in the Queue's project, or full names ("projects/p/topics/aiprod-jobs").
//
// # Publishing
//
// Publish sends through one pubsub.Publisher per topic, created on first use
// and stopped (flushing what it still holds) by Close. It returns the id the
// server assigned once the server accepted the message. The client library
// batches for up to PublishDelay (1 ms, not its default 10 ms: every caller
// waits for its message) and retries transient failures on its own;
// gcppubsub adds no retry.
//
// # Receiving
//
// Receive maps ReceiveOptions to the client's ReceiveSettings:
// MaxOutstanding to MaxOutstandingMessages, MaxExtension to MaxExtension, and
// sets MaxDurationPerAckExtension to LeaseExtensionPeriod (10s). With
// streaming pull the stream's ack deadline, not the subscription's
// AckDeadline, decides when an unextended lease expires; the client's default
// of 60s would hide a message lost with a closing stream or a crashed
// instance for a minute, LeaseExtensionPeriod for at most 10s, at the cost of
// one lease-extension request every few seconds while messages are in
// handlers.
// Message.DeliveryAttempt is Pub/Sub's delivery attempt, which the service
// only sets on subscriptions with a dead-letter policy (0 otherwise). A
// message the handler returns without acking or nacking is nacked, as in
// memqueue (the client would otherwise keep it leased up to MaxExtension and
// make Receive wait for it on shutdown). Receive waits for running handler
// calls before it returns; messages the client fetched but did not hand to
// the handler yet are nacked.
//
// # Pulling
//
// Pull (queue.Puller) is Pub/Sub's unary Pull through the client's
// SubscriptionAdminClient, without ReturnImmediately (deprecated, and it
// makes Pub/Sub answer none too often): the server waits a bounded time of
// its choosing for a first message (pkg/emulator/pubsub 500ms), and Pull
// gives up after PullWait and returns none. What it returns is leased for the
// subscription's AckDeadline, not extended by anyone: the caller settles it
// with Ack (Acknowledge), Nack (ModifyAckDeadline 0) or ExtendDeadline
// (ModifyAckDeadline, rounded up to whole seconds), at most 1000 ack ids a
// request. Unlike a streaming pull that is stopped, a Pull has no messages in
// flight to a stream going away, so what it did not return is available at
// once to the next Pull. Message.DeliveryAttempt is set on subscriptions with
// a dead-letter policy only, as with Receive.
//
// # Provisioning
//
// EnsureTopic and EnsureSubscription create what is missing and leave
// existing resources as they are (they do not update a subscription whose
// configuration differs). A subscription gets its AckDeadline (rounded up to
// whole seconds; 0 means Pub/Sub's default of 10s), a DeadLetterPolicy when
// DeadLetterTopic is set and a RetryPolicy when a backoff is set. Dead
// lettering on real Pub/Sub also needs IAM grants for the Pub/Sub service
// agent on both the dead-letter topic and the subscription; infra/ makes them.
//
// # Errors
//
// Every error is classified with errclass by one function from its gRPC code:
// NotFound is errclass.NotFound, AlreadyExists errclass.Conflict,
// InvalidArgument, FailedPrecondition, OutOfRange and Unimplemented
// errclass.Permanent, Unauthenticated and PermissionDenied
// errclass.Unauthenticated, and Unavailable, DeadlineExceeded,
// ResourceExhausted, Aborted, Internal and Canceled errclass.Retryable.
// Other errors are left unclassified (callers treat them as retryable).
package gcppubsub
