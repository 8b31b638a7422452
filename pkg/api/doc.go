// Package api is the HTTP API of the ingest service: the JSON routes of
// DESIGN.md through which upstream systems submit, inspect and cancel video
// jobs, see the backends, and through which admins drain backends and
// create API keys. cmd/ingest wires it: New(Config), then serve Handler().
//
// # Routes
//
//	POST  /v1/jobs                           202 job; Idempotency-Key: same key, same job
//	GET   /v1/jobs                           ?status=&backend=&error_code=&user_id=&since=&until=&limit=&page_token=
//	GET   /v1/jobs/{id}                      the job
//	POST  /v1/jobs/{id}/cancel               200 job, or 409 when already terminal
//	GET   /v1/jobs/{id}/events               the job's timeline
//	GET   /v1/jobs/{id}/spans                the job's trace spans (dev stack)
//	GET   /v1/backends                       catalog merged with stored health
//	GET   /v1/budget                         ?period=: limit, spent, reserved (budget.go)
//	GET   /v1/usage                          ?from=&to=&group_by=: cost and jobs from daily roll-ups (usage.go)
//	GET   /v1/forecast                       this month's spend projected to its end, interval, limit, exhaustion (forecast.go)
//	GET   /v1/recommendations                savings with money attached: tier, backend mix, commitments (forecast.go)
//	PATCH /v1/admin/backends/{name}          {"enabled": bool}: drain or restore
//	POST  /v1/admin/projects/{project}/keys  201 with a new key, shown once; optional
//	                                         {"expires_in_days"} or {"expires_at"}
//	GET   /v1/admin/projects/{project}/keys  {"keys":[KeyView]}: id, prefix, times, revoked; never the key
//	DELETE /v1/admin/projects/{project}/keys/{key_id}  revoke: 401 within 5 s on every instance
//	PUT   /v1/admin/projects/{project}/budget          monthly, per-user and default per-user limits
//	POST  /v1/admin/projects/{project}/webhook-secret  a new webhook signing secret, shown once
//	PUT|GET /v1/admin/projects/{project}/notifications operator alert settings (Slack, email, SMS)
//	GET   /v1/admin/reconcile                ?project=&period=: ledger vs jobs vs budget
//	GET   /v1/admin/jobs                     ?project=&(the filters of GET /v1/jobs): failed-job search
//	GET   /v1/admin/dlq                      ?subscription=&max=: dead letters, not consumed
//	POST  /v1/admin/dlq/replay               {"subscription","ids","max"}: back to their topics
//	GET   /healthz, GET /readyz              liveness; readiness: 503 until Config.Ready answers nil
//
// # Authentication and isolation
//
// Project routes take "Authorization: Bearer <api key>"; the key is looked
// up by its SHA-256 (store.HashAPIKey), and what the lookup found is kept
// in memory for 5 s, so that a client repeating a key, good or bad, costs
// one store read per 5 s per instance, not one per request. A usable key's
// record is kept for ValidKeyTTL (at most ValidKeysMax hashes, least
// recently used dropped first), its expires_at checked on every request:
// a key revoked through this instance answers 401 at once here, one
// revoked through another instance within ValidKeyTTL (DESIGN.md: "within
// 5 s on every instance"), an expired one from its expiry. The key's
// last_used_at is written at most once per LastUsedInterval. A key found
// unknown, revoked or expired is answered 401 from memory for
// RefusedKeyTTL (5 s; at most RefusedKeysMax hashes, apart from the usable
// ones so that bad keys cannot evict them). A key created through
// this instance is dropped from that cache at once; one created on another
// instance may get 401 here for up to 5 s after its creation if it was
// tried (and refused) just before. A key's id is the first 12 hex
// characters of that hash (store.APIKey.ID): not secret, it names the key
// in listings, revocation and logs. Admin routes take Config.AdminKey,
// compared in constant time. Keys and Authorization
// headers are never logged. A job of another project, an absent job and a
// malformed id all answer the same 404 (invariant 5).
//
// # Rate limits
//
// With Config.RateLimit N > 0 each API key has a token bucket of N
// requests a second and a burst of Config.RateBurst (default 2N), kept in
// memory per instance and keyed by the key's hash, never the key. The
// buckets are an LRU of at most Config.RateLimitBuckets (10,000): past it
// the least recently used key's bucket is dropped and comes back full. A
// request over the limit, after authentication, is answered 429
// rate_limited with Retry-After: the seconds until the key's next token,
// rounded up, at least 1. Only the project routes are limited: admin
// routes (one operator key, at least 32 characters in the services) and
// /healthz, /readyz, /metrics are not. Requests with a bad key are not
// limited either (no bucket is made for an unknown key, so they cannot
// evict real ones); the refusal cache above keeps them cheap.
//
// # Errors
//
// Every error is {"error":{"code","message","field"}} with Content-Type
// application/json. One function (errorResponse) maps errors to answers:
// *job.FieldError → 400 invalid_request naming the field,
// *http.MaxBytesError → 413 request_too_large, and the errclass classes
// through errclass.HTTPStatus (NotFound 404 not_found, Conflict 409
// conflict, Unauthenticated 401 unauthenticated, Retryable 503
// unavailable, anything unclassified 500 internal); a key over its rate
// limit is 429 rate_limited. Messages of 5xx answers are generic; the
// cause is logged. Unknown routes are 404 not_found, wrong
// methods 405 method_not_allowed with an Allow header. A panic in a handler
// is logged with its stack and answered 500; the server keeps serving.
//
// # Submitting a job
//
// POST /v1/jobs decodes the body strictly (job.DecodeRequest), checks that
// an allow-list names catalog backends, and stores the job with an
// "accepted" ingest event in one transaction, unless a job with its id
// exists: with an Idempotency-Key the id is job.IDForKey(project, key), so
// a retried request finds the job of the first one and gets it back (with
// the header Idempotent-Replayed: true). A job that is still queued is then
// published to aiprod-jobs (data: the request with defaults applied;
// attributes job_id, project_id, idempotency_key, traceparent) — again on a
// retried key, which repairs a publish that failed; the router ignores a
// job it has already routed.
//
// When the publish fails the answer is 503 unavailable. With an
// Idempotency-Key the job stays queued and the message asks the client to
// retry with the same key. Without one a retry would create a second job,
// so the stored job is canceled (best effort, event "not_queued") instead of
// being left queued for a later sweep to run besides the client's retry.
//
// # Job responses
//
// Every answer that holds a job (POST /v1/jobs, GET /v1/jobs/{id}, the
// list, cancel) shows it as PublicJob renders it: DESIGN.md's job shape,
// whose types are the SDK's (client.Job, client.Attempt, client.Event), so
// the API and the SDK share one definition. The stored record's internal
// fields never appear: attempts' provider handles, budget reservations,
// progress and retry timing (last_progress_at, retry_at, not_before), and
// the job's idempotency key, excluded backends and redrive count. Money is
// integer micro-USD shown as USD numbers with at most six decimals;
// result, error, completed_at and backend are absent until set. Timeline
// events (PublicEvent) are {"at", "stage", "type", "backend", "attempt",
// "message", "trace_id", "span_id"}.
//
// # Listing and searching jobs
//
// GET /v1/jobs answers the project's jobs newest first (created_at, then
// id), {"jobs": [...], "next_page_token": "..."}, limit per page (default
// 50, at most 500; a page whose body would pass MaxPageBytes, 1 MiB, ends
// early with a next_page_token). Its filters AND together: status, backend (the backend
// of the latest attempt, a catalog name), error_code (the job's error
// code), user_id, and since/until on created_at, RFC 3339 times or UTC
// dates, since inclusive and until exclusive (a date as until includes
// that day). GET /v1/admin/jobs takes the same filters with the admin key,
// over project or, without it, every project: the failed-job search of
// operators. A bad value, a parameter given twice or one the route does
// not take is a 400 naming it, so a misspelt filter never silently widens
// the search. The store answers every combination from Firestore indexes
// (store.ListJobsQuery).
//
// # Cancel
//
// POST /v1/jobs/{id}/cancel only records the cancellation (status
// canceled, error code canceled, completed_at, a "canceled" event) and
// publishes a lifecycle event to aiprod-events, best effort. Stopping a
// generation already submitted to a provider is the worker's job: it sees
// the canceled status when it next reads the job.
//
// # Dead letters
//
// The admin routes over Config.DeadLetters (package deadletter) inspect and
// replay the dead-letter subscriptions of the topology (aiprod-jobs-dlq,
// aiprod-events-dlq, aiprod-dlq-replay-dlq, aiprod-dispatch-<backend>-dlq);
// any other subscription is a 400, so they can never pull from a live one.
//
// GET /v1/admin/dlq lists up to max (default 50, at most 1000) messages of
// one subscription, or, without subscription, of all of them merged oldest
// first, without consuming them:
//
//	{"subscriptions": ["aiprod-jobs-dlq", ...],
//	 "messages": [{"id", "subscription", "data", "data_base64", "attributes",
//	               "reason", "source_subscription", "topic", "publish_time",
//	               "delivery_attempt"}]}
//
// data is the payload as text when it is UTF-8 text (JSON) and base64 with
// data_base64 true otherwise; topic is where a replay sends the message.
// POST /v1/admin/dlq/replay with {"subscription": "aiprod-jobs-dlq",
// "ids": [...]} republishes those messages (all of them when ids is empty
// or absent, examining at most max, default 100) to their original topics
// without the dead-letter attributes and removes them from the
// subscription: 200 {"replayed": n, "ids": [...], "not_found": [...],
// "request_id": "...", "pending": false}. Replaying is safe because every
// stage is idempotent. The services use deadletter.Remote: ingest does not
// replay itself (it may not publish dispatches) but asks the router to,
// through aiprod-dlq-replay, and answers with the router's outcome; when
// that does not come within 20 s the answer is 202 {"replayed": 0,
// "ids": [], "not_found": [], "request_id": "...", "pending": true}: the
// request is queued and will be carried out, nothing of it is known yet.
//
// # Tracing and logs
//
// Every request but the health probes runs in a server span named after
// its route, continuing a W3C traceparent header sent by the caller. A new
// job starts a trace of its own (a root span "job <id>" linked to the
// request's span, so one caller submitting many jobs does not fold them into
// one trace); its trace_id is that trace's id, and the ingest event records
// the span id. Messages about a job always carry the job's trace: a request
// that runs in another trace (a retried key, a cancel) publishes with a
// producer span parented on the span that accepted the job and linked to
// its own. Logs are written with the request's context (so they carry the
// trace when Config.Logger comes from telemetry.Logger) and name job_id and
// project_id; one access line per request gives method, route, status and
// duration.
package api
