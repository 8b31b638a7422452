// Package notifier is the notifier service: it consumes aiprod-events
// (subscription aiprod-notifier) through the consumer layer and POSTs a
// signed webhook to a job's webhook_url when the job reaches a terminal
// status (DESIGN.md "Notifications").
//
// # What is sent
//
// The lifecycle event (dispatch.Lifecycle) names the job; the notifier
// reads the job from the store and POSTs
//
//	{"type": "job.succeeded | job.failed | job.canceled", "timestamp": "...", "data": <job>}
//
// where data is the job as GET /v1/jobs/{id} shows it (api.PublicJob) and
// timestamp its completion time, with the Standard Webhooks headers
// (package webhook): webhook-id (WebhookID: derived from the job id and
// its status, so the same on every attempt, redelivery and republished
// copy), webhook-timestamp (the attempt's time) and webhook-signature
// (one signature per secret of webhooksecrets.Keyring.Signing: two during
// a rotation's overlap). Budget events on the same topic are acked
// unread (operator alerts are not job webhooks).
//
// # Attempts and retries
//
// An attempt is a 2xx within Timeout (10 s) or a failure. Redirects are
// not followed (a 3xx is a failure), and at most MaxResponseBytes of an
// answer are read, then discarded. A failure is retried on Schedule
// (Standard Webhooks': 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then once at
// 24 h after the first attempt); 410 Gone stops at once, and so does a
// destination the network guard refuses (a loopback, private or link-local
// address, after DNS and on every redirect: package netguard, through
// Config.Client's transport); after the window the delivery has failed.
//
// The delivery state lives in the store, by webhook-id
// (store.WebhookDelivery): attempts, the first attempt's time, when the
// next is due, a lease on the attempt in progress and the outcome. Every
// attempt is claimed in a transaction before the request (so concurrent
// deliveries of the event do not both send) and its outcome recorded in
// another, with a job event of stage notifier (webhook_delivered,
// webhook_retrying, webhook_gone, webhook_failed) and a count in
// aiprod_webhook_deliveries_total (delivered, retried, failed). So retries
// survive restarts: a notifier killed during an attempt leaves a lease
// that expires after Timeout + LeaseMargin, and Pub/Sub redelivers the
// event to whichever notifier runs next. A receiver may therefore get an
// event more than once (at-least-once): it deduplicates on webhook-id.
//
// The lifecycle message stays unacked until the delivery is final: while
// the next attempt is not due the message is held (at most HoldMax) and
// nacked, and redelivered until it is due. Pub/Sub's backoff is at most
// 600 s and a subscription dead-letters after MaxDeliveryAttempts
// deliveries, so from half of them on a waiting message is republished
// (a fresh copy, same data and attributes) and acked instead.
//
// # Bounded work
//
// At most MaxInFlight requests are in flight, at most MaxPerHost to one
// host; a slot is held for the claim and the request only (the body, the
// secrets and the outcome's record are outside it). A message whose
// destination is full waits for a slot at most BusyWait, and only while
// no more than MaxPerHost others wait for that host; otherwise it is
// nacked after about BusyDelay. So a slow or dead receiver holds at most
// MaxPerHost requests and 2·MaxPerHost message slots, never the slots of
// other receivers' events. ReceiveOptions.MaxOutstanding bounds the
// messages in hand, waiting ones included: with more webhooks than that
// waiting for their retries at once, new events wait up to HoldMax for a
// slot.
//
// # Secrets and the network
//
// The signing secrets are only in the signature header: never in logs,
// job events, span attributes or errors. Logs and spans show the
// destination without its query string (telemetry.SafeURL), and transport
// errors are reported without the URL. Config.Client takes the HTTP
// client, so that the dial-time network guard can be plugged in as its
// transport.
package notifier
