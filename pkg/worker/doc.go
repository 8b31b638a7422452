// Package worker is AIPROD's worker service: for each configured backend it
// consumes aiprod-worker-<backend>, submits the dispatched attempt to the
// provider, records the provider's handle, polls until the generation ends,
// and records the result, cost and status in the store.
//
// # Attempt states
//
// The router creates attempt n with status dispatch.AttemptDispatched. The
// worker then writes, each in its own transaction guarded by the stored
// state:
//
//  1. intent: job dispatched → running, attempt → job.AttemptSubmitting with
//     SubmittedAt = now (the moment the worker starts the Submit call);
//  2. handle: attempt → job.AttemptRunning with Handle and LastProgressAt,
//     right after Submit returned;
//  3. outcome: attempt → job.AttemptSucceeded or job.AttemptFailed with
//     EndedAt, Cost and Error, together with the job's new status.
//
// # Idempotency rules (per dispatch message, after loading the job)
//
//   - Job terminal: ack (on a redelivery, DeliveryAttempt ≠ 1, the job's
//     lifecycle event is published again first, so that event is at least
//     once even if the delivery that ended the job failed to publish it).
//   - The job's current attempt is not the message's attempt: a stale
//     dispatch; ack.
//   - The attempt failed and the job is queued: the delivery that failed it
//     may not have published the reroute; publish it again (the router is
//     idempotent), ack.
//   - The attempt has a Handle: resume polling it. Never submit again
//     (DESIGN invariant 2).
//   - The attempt is dispatched (job dispatched): record the intent, Submit,
//     record the handle, poll. If the intent transaction finds the state
//     changed (another worker took it), the job is reloaded and these rules
//     applied again.
//   - The attempt is submitting without a handle: a worker is inside Submit
//     now, or crashed between Submit and recording the handle. While the
//     intent is younger than 2×SubmitTimeout the message is nacked (the
//     other worker will record the handle; the redelivery then resumes it).
//     Older, the attempt is failed with backend_unavailable ("submit outcome
//     unknown") and the job rerouted, without a circuit strike. This may pay
//     for an orphaned generation but never submits the same attempt twice;
//     provider reconciliation (finding the generation by job id and attempt)
//     will replace it.
//
// Success is ONE transaction: job succeeded with result and completed_at,
// attempt succeeded with its cost, job cost = sum of attempt costs, and a
// timeline event (DESIGN invariant 3). Its guard (job not terminal, the
// attempt is current and not finished) makes a duplicate success a no-op, so
// cost is recorded exactly once.
//
// # Cost
//
// An attempt costs the catalog price of its offer (backend and model, the
// price row matching the request's resolution and audio) for the delivered
// duration: Status.DurationSeconds, or the attempt's billed seconds when the
// provider does not say. A failed or canceled generation the provider bills
// (Status.Billed) costs the billed seconds. Without a catalog price (the
// catalog changed) the router's estimate is recorded.
//
// # Failures
//
//   - errclass.ContentSafety: job failed content_rejected; no failover, no
//     circuit strike.
//   - errclass.Permanent: job failed invalid_request; no failover, no strike.
//   - Anything else (retryable): Submit errors, a generation the provider
//     failed, PollErrorLimit consecutive poll errors (with backoff), or no
//     result within GenerationTimeout. The attempt fails with
//     backend_unavailable (timeout for the last), the circuit takes a strike,
//     the backend is appended to the job's excluded_backends and the job goes
//     back to queued, and a reroute request (attributes job_id, project_id,
//     attempt = next) is published to aiprod-jobs. When the job already has
//     MaxAttempts attempts it fails with backend_failed instead, listing them.
//
// Terminal states publish a lifecycle event to aiprod-events. A publish that
// fails after the state is committed nacks the message; the rules above make
// the redelivery publish it again.
//
// # Flow control and shutdown
//
// Active generations (submit through the last poll) on a backend are capped
// by the catalog's Backend.Concurrency within this process, on top of
// ReceiveOptions.MaxOutstanding; the lease of a message being polled is
// extended up to ReceiveOptions.MaxExtension (15 min by default). When ctx is
// canceled (SIGTERM), polling stops and the message is nacked: another
// worker resumes from the stored handle. A Submit in progress is not
// interrupted by shutdown (it has its own SubmitTimeout) so that its handle
// can still be recorded.
//
// Undecodable dispatch messages go to aiprod-dispatch-<backend>-dlq with a
// reason attribute, then are acked.
package worker
