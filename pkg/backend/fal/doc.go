// Package fal is AIPROD's backend.Backend for fal's queue API
// (https://docs.fal.ai/model-endpoints/queue).
//
// # Protocol
//
// Every call carries "Authorization: Key <key>".
//
//   - Submit: POST {Endpoint}/{model id} with the model's input as the body.
//     fal answers {request_id, status_url, response_url, cancel_url}; the
//     Handle is that object as JSON, plus the model id and the duration asked
//     for. fal says to use the returned URLs rather than build them (they
//     hold only the owner and app of the model id: fal-ai/veo3.1/fast →
//     /fal-ai/veo3.1/requests/{id}); the adapter does, but only when they are
//     on the Endpoint's scheme and host, and otherwise rebuilds them there,
//     so the key never goes to another host. A handle naming another host is
//     refused (Permanent).
//   - Poll: GET status_url → IN_QUEUE (queue_position) is pending,
//     IN_PROGRESS running, COMPLETED is final: the adapter then reads
//     GET response_url, whose {"video": {"url"}} is the video. A COMPLETED
//     request can carry an error ("error", "error_type"); its result is then
//     an error response ({"detail": [...]} with 422, or a 5xx with
//     X-Fal-Error-Type), and the Status is failed.
//   - Cancel: PUT cancel_url → CANCELLATION_REQUESTED (or OK);
//     ALREADY_COMPLETED and NOT_FOUND are not errors. A queued request is
//     dropped; a running one gets a signal the model may ignore.
//   - PollInterval: 2 s by default.
//
// # Models
//
// The catalog names the text-to-video model id; a request with an image
// goes to the same family's image-to-video endpoint:
//
//	fal-ai/veo3.1       → fal-ai/veo3.1/image-to-video
//	fal-ai/veo3.1/fast  → fal-ai/veo3.1/fast/image-to-video
//
// Both take prompt, aspect_ratio "16:9"|"9:16", duration "4s"|"6s"|"8s",
// resolution "720p"|"1080p"|"4k" and generate_audio (fal's default is true,
// so the adapter always sends it: audio changes the price); image_url (an
// http(s) URL or a data URI) on the image endpoints. A request outside that
// fails before any call with a Permanent error starting "fal: invalid_request:".
//
// # Errors
//
// providerhttp.Client.Error maps HTTP statuses through
// errclass.FromHTTPStatus (400/422 Permanent, 404 NotFound, 429/5xx/401/403
// Retryable, Retry-After carried), except that a content_policy_violation
// detail is ContentSafety. A failed
// generation's class comes from fal's error types and its result's status
// (failureClass): content_policy_violation → ContentSafety; 5xx, timeouts,
// runner_*, internal and downstream errors → Retryable (fal bills none of
// them: "no charge for server errors"); other 4xx → Permanent. Failed
// generations are reported not billed; canceled ones billed (a running
// request may have used GPU time). A 402 is Permanent, as
// errclass.FromHTTPStatus has it: fal does not document one (unlike Runway,
// Luma and Replicate, whose 402 means out of credit). Unreadable or
// truncated bodies are Retryable errors, never panics; error text never
// holds the key.
//
// # Retries inside fal
//
// fal's queue retries a request itself, up to 10 times, when the runner
// answers 503, 504 or 429 or the connection fails; those retries keep the
// request id, cost nothing and cannot create a second generation, so the
// adapter leaves them on. Config.DisableQueueRetries sends "x-fal-no-retry: 1"
// to turn them off (fail fast, and let AIPROD's worker reroute).
//
// # Duplicate submission
//
// fal documents no idempotency key and no way to list or search requests: a
// request can be found only by the request_id in the submit answer, so the
// adapter does not implement backend.Finder. The
// worker must therefore record its intent (job id and attempt) before
// Submit and the handle right after. On redelivery with a handle, it polls;
// with intent but no handle, Submit may have queued a request (a crash
// before the write, a transport error after the request left, an unreadable
// 2xx answer — reported as Retryable "the request may be queued"), and fal
// offers no lookup, so resubmitting risks paying twice. What reconciliation
// remains: fal's usage and billing pages (per endpoint, not per request),
// and, if AIPROD adopts them, webhooks — a submission with
// ?fal_webhook=<url carrying job id and attempt> would report the
// request_id even if the worker died before recording it.
//
// # Concurrency
//
// A Backend is safe for concurrent use and holds no per-request state.
package fal
