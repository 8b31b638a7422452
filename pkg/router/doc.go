// Package router is AIPROD's router service: it consumes job requests from
// aiprod-jobs (subscription aiprod-router), picks the cheapest healthy
// backend that meets each request (package routing), records the attempt,
// and publishes a dispatch message to aiprod-dispatch-<backend>.
//
// # Messages it accepts
//
//   - With a job_id attribute: a job written by ingest, or a reroute request
//     from a worker (then with attempt = the next attempt number). The job
//     is loaded from the store; an unknown or malformed job id, or a
//     project_id attribute that is not the job's project, is dead-lettered.
//     Ingest must write the job before it publishes.
//   - Without job_id: a job request published straight to aiprod-jobs by an
//     upstream system. The data is decoded strictly with job.ParseRequest and
//     the project_id attribute is required. The job id is
//     job.IDForKey(project, idempotency_key) when that attribute is given,
//     else job.IDForKey(project, "pubsub:"+message id), so a redelivery of
//     the same message names the same job; the job is created only if
//     absent, with trace_id = the trace id of the consumer span (that is, of
//     the publisher's trace when the message carries traceparent).
//
// Undecodable or invalid messages go to aiprod-jobs-dlq with a reason
// attribute naming the field or attribute at fault, then are acked: bad
// input never crashes the router and is never dropped silently.
//
// # Idempotency rules
//
// Pub/Sub delivers at least once, so every message is handled by looking at
// the stored job, never at the message alone. The job is read once, by the
// routing transaction (which writes nothing unless the job is queued), and
// the rules below apply to what it read:
//
//   - queued: route it. The transaction checks it is still queued, reserves the estimate (see Budget), appends attempt len+1
//     (status job.AttemptDispatched, backend, model, billed seconds,
//     estimate, reservation, started_at), sets the job's
//     backend and estimated cost, moves it queued → dispatched, takes the
//     half-open probe if the candidate needs one, and adds a timeline event.
//     The dispatch message is published only after that transaction commits.
//   - dispatched: a previous delivery committed the dispatch but may have
//     failed to publish it (then it nacked). If the message has no attempt
//     attribute, or its attempt equals the job's current attempt, the
//     dispatch of the current attempt is published again. This is safe
//     because workers are idempotent per (job, attempt): a duplicate
//     dispatch never causes a second submission. Any other attempt number is
//     stale: ack.
//   - running: a worker owns the job: ack.
//   - terminal: the job's lifecycle event is published again, then the
//     message acked, in case the delivery that made the job terminal died
//     before publishing it (this may be a duplicate of its message, the
//     last one left); lifecycle events are therefore at least once.
//
// A failed publish or a transient store error nacks the message, and the
// rules above make its redelivery finish the work.
//
// # Routing and failure
//
// Health (enabled flag and circuit) is read with store.ListBackends and
// cached for Config.HealthCacheTTL; routing.Decide filters and ranks. When
// the best candidate needs a half-open probe, the router acquires it
// (circuit.Breaker.Acquire) inside the dispatch transaction; if another
// instance took it first, that candidate is dropped and the next one taken.
//
// A job whose remaining backends all failed it may go back to one that
// refused its submit without taking it on (routing's Retryable; the
// backends with job.Attempt.RetryAt on their latest attempt): the new
// attempt carries NotBefore, the refusal's RetryAt, and its worker waits
// until then before submitting.
//
// A job that already has MaxAttempts attempts fails with backend_failed
// (the message lists every attempt); a job without a candidate fails with
// no_backend and routing.Decision.Explain as message (plus the attempts,
// when there were any). Both publish a lifecycle event to aiprod-events.
//
// # Budget
//
// The dispatch transaction also reserves the chosen candidate's estimate on
// the project's budget for the month (and the user's, when the job has a
// user), with package budget: budget.Prepare right after the job is read,
// JobTx.Reserve once a candidate is chosen, JobTx.Apply before the writes.
// When spent + reserved + estimate would pass a limit, the job fails with
// budget_exceeded and the budget's message (limit, spent, reserved,
// estimate), and a half-open probe taken for the candidate is not written.
// A job back from a failed attempt still holds that attempt's reservation:
// it is moved to the new estimate, so a failover never loses its place to
// other jobs; a job that fails here (no_backend, backend_failed,
// budget_exceeded) releases it. The new attempt records what it holds in
// Attempt.Reserved. Thresholds of the limit that the reservation crosses are
// published to aiprod-events after the commit (at most once each).
//
// # Learned figures and load
//
// Ranking is by expected cost per successful video, with deadlines (package
// routing). The router gives it, for the job's shape, each backend's
// learned figures (package learn: backend_stats, read with
// store.ListBackendStats every Config.StatsTTL, 30 s) and load: for each
// backend with a concurrency cap, its slots in use (its slot table,
// store.ReadSlots) and its jobs dispatched and not running yet
// (store.CountJobs), read every Config.LoadTTL (2 s), plus the jobs this
// router dispatched to it since that read, so a burst routed between two
// reads spills as it should. These reads are made by the message that
// finds them stale, before its transaction, one message at a time: a
// backend costs two reads per 2 s per router, not a read per job. The
// job's elapsed time since acceptance counts against its deadline, and its
// exploration draw is a hash of its id and attempt number, so a redelivery
// decides alike.
//
// The dispatched event's message says why: the candidates in rank order
// with their expected cost per successful video, success probability,
// expected wait and completion and samples, the deadline, which would miss
// it, and which was explored (routing.Decision.Ranking).
package router
