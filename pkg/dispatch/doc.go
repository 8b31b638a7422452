// Package dispatch defines the messages that move a job between AIPROD's
// stages after ingest, and publishes them with the job's trace context:
//
//   - Message, the work order the router publishes to
//     aiprod-dispatch-<backend> for that backend's workers;
//   - the reroute request a worker publishes to aiprod-jobs after a
//     retryable backend failure (attributes only: job_id, project_id and the
//     next attempt number), so the router routes the job again;
//   - Lifecycle, the event published to aiprod-events when a job reaches a
//     terminal status, for the notifier.
//
// Messages carry ids and routing facts, never the only copy of anything:
// Firestore's job is the truth, and a consumer always reloads it.
//
// # Wire format
//
// Data is JSON. Decode is strict: unknown fields, trailing data, a missing
// job_id, project_id, backend or a non-positive attempt are errors of class
// errclass.Permanent, which consumers dead-letter with the error as reason.
// Every message also carries the attributes job_id, project_id, attempt and
// (dispatch only) backend, so that a message can be filtered, traced and
// dead-lettered without decoding its data, and the W3C trace context
// (traceparent, tracestate) of the span that published it.
//
// # Attempt state convention
//
// The router creates an attempt with status AttemptDispatched when it
// publishes a dispatch; workers move it to job.AttemptSubmitting (intent
// recorded, SubmittedAt = time of the intent), then job.AttemptRunning (the
// provider accepted it: Handle is set), then job.AttemptSucceeded or
// job.AttemptFailed. See packages router and worker for the idempotency
// rules built on these states.
package dispatch
