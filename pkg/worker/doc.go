// Package worker is AIPROD's worker service: for each configured backend it
// consumes aiprod-worker-<backend>, submits the dispatched attempt to the
// provider, records the provider's handle, polls until the generation ends,
// and records the result, cost and status in the store.
//
// It runs in two modes. Pull (Run, Handler): a worker pool holds each
// message until its generation ends, the queue extending the message's
// lease meanwhile. Push (Step, PushHandler): a Cloud Run service behind a
// Pub/Sub push subscription does a bounded step per delivery and nacks to
// be called again (see "Push mode"). Both resume from the stored handle.
//
// # Attempt states
//
// The router creates attempt n with status job.AttemptDispatched. The
// worker then writes, each in its own transaction guarded by the stored
// state:
//
//  1. intent: job dispatched → running, attempt → job.AttemptSubmitting with
//     SubmittedAt = now (the moment the worker starts the Submit call);
//  2. handle: attempt → job.AttemptRunning with Handle and LastProgressAt,
//     right after Submit returned;
//  3. outcome: attempt → job.AttemptSucceeded, job.AttemptFailed or
//     job.AttemptCanceled with EndedAt, Cost and Error, together with the
//     job's new status.
//
// While polling, the attempt's LastProgressAt and the job's UpdatedAt are
// refreshed every Config.Heartbeat (no event), so that a stuck-job sweep can
// tell a long generation from an abandoned one.
//
// # Idempotency rules (per dispatch message, after loading the job)
//
//   - Job canceled and its current attempt (this message's) unfinished: the
//     attempt is ended as described under "Cancel". Then, as for any
//     terminal job: the job's lifecycle event is published again, then the
//     message acked, so that event is at least once even if the delivery
//     that ended the job died before publishing it while a duplicate of its
//     message (a concurrent redelivery, a republished or re-driven copy)
//     was acked. The same holds for a delivery whose polling finds the
//     attempt finished by another delivery, whether the read after a poll
//     finds it or the outcome transaction of the poll that ended the
//     generation does. Consumers of aiprod-events deduplicate by job id
//     and status.
//   - The job's current attempt is not the message's attempt: a stale
//     dispatch; ack.
//   - The attempt failed and the job is queued: the delivery that failed it
//     may not have published the reroute; publish it again (the router is
//     idempotent), ack.
//   - The attempt has a Handle: resume polling it. Never submit again
//     (DESIGN invariant 2).
//   - The attempt is dispatched (job dispatched): take a concurrency slot,
//     record the intent, Submit, record the handle, poll. If the intent
//     transaction finds the state changed (another worker took it, or the
//     job was canceled), the job is reloaded and these rules applied again.
//   - The attempt is submitting without a handle: see "Reconciliation".
//
// Success is ONE transaction: job succeeded with result and completed_at,
// attempt succeeded with its cost, job cost = sum of attempt costs, and a
// timeline event (DESIGN invariant 3). Its guard (job not terminal, the
// attempt is current and not finished) makes a duplicate success a no-op, so
// cost is recorded exactly once.
//
// # Reconciliation (submit outcome unknown)
//
// An attempt that is submitting without a handle means a worker is inside
// Submit now, or it crashed (or lost the provider's answer) between Submit
// and recording the handle. Nobody resubmits unless the provider proves the
// first Submit did not happen:
//
//   - Intent younger than SubmitTimeout+FindGrace (adapter is a
//     backend.Finder) or 2×SubmitTimeout (it is not): wait. The delivery
//     waits in hand for up to SubmitWait, re-reading the job every second:
//     a handle that appears is resumed, and a wait that reaches the point
//     above applies the next rules; otherwise it nacks and a redelivery
//     waits again.
//   - Older, adapter is a backend.Finder: Find(req, intent time).
//     Found: the handle is recorded (event "reconciled") and polled.
//     Provably absent: a fresh intent replaces the old one (event
//     "resubmitting") and the attempt is submitted.
//     Error or ambiguous (several candidates): nack until the intent is
//     SubmitTimeout+FindGrace+max(SubmitTimeout, FindRetryWindow) old (each
//     redelivery asks again), then fail over as below.
//   - Older than 2×SubmitTimeout without a Finder (or after failed lookups):
//     the attempt fails with backend_unavailable ("submit outcome unknown")
//     and the job is rerouted with the backend excluded, without a circuit
//     strike. This may pay for an orphaned generation but never submits the
//     same attempt to the same backend twice.
//
// Every write of this path is guarded by the intent it judged (the
// attempt's SubmittedAt, still without a handle), so a late answer of the
// first Submit and a reconciler never both win: the first to record a
// handle wins, the other finds the same handle (and polls it) or a
// different state (and cancels its generation at the provider as an
// orphan).
//
// The rule per provider (no provider has an idempotency key for creating
// a generation):
//
//	provider   lookup                                  submit outcome unknown
//	runway     none (tasks only by id)                 fail over after 2×SubmitTimeout
//	fal        none (queue requests only by id)        fail over after 2×SubmitTimeout
//	veo        none (operations only by name)          fail over after 2×SubmitTimeout
//	replicate  Find: GET /v1/predictions since intent  adopt / resubmit / wait, then fail over
//	luma       Find: GET /generations since intent     adopt / resubmit / wait, then fail over
//
// Replicate's and Luma's Find match on what Submit sent (model, prompt,
// duration, aspect ratio, resolution), so two jobs with identical requests
// in the same window are ambiguous (an error: wait, then fail over).
//
// # Cancel
//
// POST /v1/jobs/{id}/cancel moves the job to canceled and leaves the
// attempt to the worker, which ends it at whatever stage it is:
//
//   - not submitted (attempt dispatched): recorded canceled, cost 0;
//   - Submit in flight when the cancel lands: the handle is still recorded,
//     then the generation is canceled as below;
//   - polling: the job is read after every poll that does not end the
//     generation, so the cancel is noticed within one poll interval; the
//     generation is canceled as below (the poll that ends it goes straight
//     to the outcome transaction, which reads the job anyway: an outcome
//     for a canceled job is recorded as below);
//   - submitting without a handle: reconciled as above (found: canceled as
//     below; absent or unknown: recorded canceled, cost 0).
//
// Canceling a generation calls Backend.Cancel (transient errors retried; a
// Cancel still failing nacks, so the redelivery cancels again), then polls
// once to learn what the provider bills: Status.Billed (or a generation
// that finished anyway) costs the price of its seconds, anything else 0.
// The attempt becomes job.AttemptCanceled with that cost and error code
// canceled, in one transaction with the job's cost; the job keeps the
// status and error the API gave it. An outcome that arrives for a canceled
// job (a success, a failure) is recorded the same way.
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
//     failed, more than PollErrorLimit consecutive poll errors, or no result
//     within GenerationTimeout. The attempt fails with backend_unavailable
//     (timeout for the last), the circuit takes a strike, the backend is
//     appended to the job's excluded_backends and the job goes back to
//     queued, and a reroute request (attributes job_id, project_id, attempt
//     = next) is published to aiprod-jobs. When the job already has
//     MaxAttempts attempts it fails with backend_failed instead, listing
//     them.
//   - A retryable Submit error that says the provider did not take the
//     request on (errclass.NotAccepted: 429, 503, connection refused) also
//     records the attempt's RetryAt: now + RefusalBackoff's delay for the
//     job's refusals at that backend (the provider's Retry-After when it
//     gave one; none when that is over MaxRefusalWait). Routing may send
//     the job back to that backend when no other is left; the new attempt
//     has NotBefore = RetryAt, and its worker holds the delivery until then
//     (up to SubmitWait, or what is left of a push step; a longer wait
//     nacks, see "Waiting without dead-lettering"). Other failures never
//     bring a job back to the same backend: the generation may have been
//     taken on.
//
// Terminal states publish a lifecycle event to aiprod-events. A publish that
// fails after the state is committed nacks the message; the rules above make
// the redelivery publish it again.
//
// # Retries
//
// Package retry (exponential backoff with full jitter, Retry-After honoured)
// is used for: transient store errors of every job read and write
// (Config.Retry, by default 4 tries within 3 s) — an outcome write whose
// retry finds the change already made nacks, so that the redelivery
// publishes what that commit owes; the breaker write after an outcome
// (retried through shutdown for up to DrainTimeout, then logged); the
// handle write after Submit (retried until SubmitTimeout, or DrainTimeout
// after shutdown); slot writes; provider Cancel and Find calls. Failed polls
// wait max(poll interval, a jittered exponential delay from the poll
// interval up to MaxPollBackoff, or the provider's Retry-After) and fail the
// attempt after PollErrorLimit consecutive errors. Publishes are not retried
// in place: a failed publish nacks and the redelivery publishes again.
//
// # Concurrency slots
//
// A backend whose catalog entry sets Concurrency n has n slots in the store
// (store.Slot; all of them and the fair share's waiting marks in one
// document, backends/{name}/slots/all, store.SlotTable), shared by every
// worker instance. An attempt takes one (store.AcquireSlot, holder
// "<job id>#<attempt>", recording the attempt's dispatch time on the slot)
// before its Submit and keeps it until its outcome is recorded (the
// release records its time on the slot: with the dispatch times, that is
// how the stuck-job sweeper tells a backlog from a lost message, without a
// write per waiting job; see package sweeper): the slot is released right after that commit, before anything
// is published (a delivery that acks without recording an outcome releases
// the slot it took too). The lease (SlotLease) is
// renewed every third of itself while polling; a crashed holder's slot
// frees when its lease expires, and a redelivery of the same attempt
// re-enters the slot its attempt holds. When no slot is free within
// SlotWait the message is nacked (it comes back after the subscription's
// backoff) — no handler blocks indefinitely. A generation already running
// (resumed, or adopted by reconciliation) re-enters or takes a slot when one
// is free and is polled either way, since not polling would not stop it.
//
// Slots are shared fairly between projects (store/fairshare.go): a slot
// records its holder's project, and a delivery that finds no slot it may
// take leaves a waiting mark for its project (10 s, a few of its longest
// pauses between tries; rewritten only when half gone). A project alone
// may take every slot; while others wait, free slots go first to the
// projects holding least, up to their share of the capacity, so one
// project's backlog no longer keeps the others out. Running generations are never evicted, and
// a resumed generation takes any free slot.
//
// # Push mode
//
// Step does one bounded step: the same rules, but polling stops once
// StepBudget is spent (and after StepPolls polls, if set) and the message
// is nacked (StepResult.Later) while the attempt keeps its handle and its
// concurrency slot; the next delivery resumes from the stored handle.
// PushHandler serves Pub/Sub push requests with it: 204 acks; 429 nacks
// a step that only waits (in progress, no free slot), 503 one that failed.
// It first authenticates each request with a pushauth.Verifier (the push
// subscription's OIDC token; cmd/worker builds it from AIPROD_PUSH_*): a
// request without a valid token gets 401 before its body is read, so
// nobody who merely reaches the endpoint can inject a dispatch, fill the
// dead-letter topic or choose a delivery attempt.
// Size StepBudget below the push subscription's ack deadline (Pub/Sub
// redelivers a push that gets no answer in time): the deployment uses
// PushStepBudget under PushAckDeadline, so that most generations take one
// delivery. Every step of a long
// generation is one delivery; near the dead-letter threshold the step
// republishes the dispatch instead of nacking (see "Waiting without
// dead-lettering"), so long generations are not dead-lettered. Pub/Sub's
// backoff between nacked pushes (MinBackoff..MaxBackoff) sets the pace of
// steps; a larger StepBudget means fewer, longer steps.
//
// # Flow control and shutdown
//
// In pull mode a subscription holds no more deliveries than it can use:
// a backend with a concurrency cap n has MaxOutstanding n + Prefetch
// (default 2; AIPROD_PREFETCH), ReceiveOptionsOf — n running, the others
// ready for the next slot that frees and, refused one meanwhile, keeping
// the backend's waiting mark fresh. The rest of a backlog stays in
// Pub/Sub, unleased, for whichever instance has room (Pub/Sub's streaming
// pull applies the same limit on the server side). A backend without a cap
// has ReceiveOptions.MaxOutstanding (16 by default). With several
// instances each holds up to n + Prefetch. Between polls a message in hand
// costs about 8 KB (BenchmarkWorkerMemory): the rules return the polling
// as a consumer.Resume, so the goroutine holding the message waits in the
// consumer on a shallow stack and each poll runs on a goroutine of its
// own. The lease of a message in hand
// is extended up to ReceiveOptions.MaxExtension, by default MaxHold
// (42m30s: SubmitWait, SlotWait, GenerationTimeout, the last poll's
// backoff, CopyTimeout and a minute), so that a message is not delivered
// again, to another worker, while its generation legitimately runs (the
// queue's own default, 15 min, is shorter than GenerationTimeout). When ctx is canceled
// (SIGTERM), polling stops at once and the message is nacked: another
// worker resumes from the stored handle. Work that must not be cut in half
// — a Submit and the write of its handle, a Cancel at the provider, the
// breaker and slot writes — runs on for up to DrainTimeout (7 s by
// default), so Run returns within Cloud Run's 8 s drain budget. A Submit
// still unanswered then is abandoned: its intent stays without a handle and
// is reconciled as above.
//
// # Waiting without dead-lettering
//
// A delivery nacked only to wait (no free slot, another worker's submit in
// progress, a provider lookup that failed, a push step that ended) is not a
// failure, but every nack spends one of the subscription's delivery
// attempts, and so does every delivery the handler never sees (to a
// process killed while it held the message). From half the threshold on
// (Config.MaxDeliveryAttempts / 2, rounded up) such a delivery publishes
// the dispatch again instead — a fresh message; every rule above is
// idempotent — and acks, keeping its slot.
// The dead-letter topic is left to messages that cannot be handled.
//
// Undecodable dispatch messages go to aiprod-dispatch-<backend>-dlq with a
// reason attribute, then are acked.
package worker
