// Package luma is AIPROD's backend.Backend for Luma's Dream Machine API
// (https://docs.lumalabs.ai, errors at https://docs.lumalabs.ai/docs/errors;
// base https://api.lumalabs.ai/dream-machine/v1; schemas from the official
// lumalabs/lumaai-python SDK).
//
// # Protocol
//
// Every call carries "Authorization: Bearer <key>".
//
//   - Submit: POST /generations/video {model, prompt, aspect_ratio,
//     duration: "5s"|"9s", resolution: 540p|720p|1080p|4k, keyframes:
//     {frame0: {type: "image", url}}} → 201 with the Generation object; the
//     Handle is its id.
//   - Poll: GET /generations/{id} → {id, state, failure_reason, assets:
//     {video}, request: {...}}. queued is pending, dreaming is running (no
//     progress is reported), completed is succeeded with assets.video and
//     the duration read back from request.duration, failed is failed.
//   - Cancel: DELETE /generations/{id}. Dream Machine has no cancel: the
//     generation is deleted, and a later Poll answers NotFound. 404 on
//     DELETE is success.
//   - PollInterval: 3 s by default (Luma gives no guidance).
//
// # Models
//
// ray-2 and ray-flash-2: 540p, 720p, 1080p or 4k; 16:9, 9:16 or 1:1 passed
// through as aspect_ratio; 5 or 9 s; no audio. The prompt needs 3 to 5000
// characters (it may be empty only with an image). Keyframe images must be
// URLs Luma can fetch, not data URIs. A request outside this fails before
// any call with errclass.Permanent, text starting "luma: invalid_request:".
//
// # Errors
//
// HTTP answers are classified in one place, providerhttp.Client.Error,
// through errclass.FromHTTPStatus: 400, 413 and 422 are Permanent with
// Luma's {"detail": ...} message (a
// string, or FastAPI-style [{loc, msg}] validation errors), 404 NotFound,
// 401/403 Retryable (the backend's credential is at fault, fail over), 402
// Retryable (the account is out of credits), 429 Retryable with its
// Retry-After (errclass.RetryAfter), 5xx Retryable. An unreadable body is
// Retryable, never a panic. Error text never contains the key or headers.
//
// A failed generation carries Status.Err classified from failure_reason
// (Luma's "Errors" page lists "Contains blacklisted words", "Frame
// moderation failed", "Advanced prompt moderation failed", "Failed to read
// user input frames", "Prompt processing failed"): moderation wording
// (moderation, blacklisted, not allowed, blocked, unsafe, safety) is
// errclass.ContentSafety; unusable inputs ("Failed to read user input
// frames", invalid, unsupported) are Permanent; anything else is Retryable.
// A failure_code field, which Luma's newer APIs send (content_moderated,
// generation_failed, ...), decides first when present. Failed generations
// are assumed not billed; deleted (canceled) ones are assumed billed.
//
// # Duplicate submission
//
// Dream Machine documents no idempotency key, and a generation carries no
// field of ours (callback_url is the only free-form field, and it is a
// webhook target, not a label). So the worker records its intent to submit
// (job id and attempt) before Submit and the handle right after it returns.
// On redelivery:
//
//   - intent with a handle: resume polling, never submit again;
//   - intent without a handle: Submit may have created a generation (crash
//     after Luma answered, a transport error after the request left, or an
//     unreadable 201, which Submit reports as Retryable "the generation may
//     exist"). Unlike Runway, Luma lists generations, and the adapter is a
//     backend.Finder: Find pages through GET /generations?limit=&offset=
//     (newest first, each with created_at and the echoed request) back to
//     the intent time less providerhttp.ClockSkew (2 minutes, for clocks
//     that disagree), and compares model, prompt, aspect_ratio, duration
//     and resolution with what Submit would send. One match is adopted;
//     none proves the submit absent (found=false), and the worker may
//     submit; several are an errclass.Conflict error (two jobs may share a
//     request, and a generation carries nothing of ours to tell them
//     apart), and the worker must not resubmit. Luma pages by offset, so a
//     generation deleted during the scan can hide one other from it.
//
// # Concurrency
//
// A Backend is safe for concurrent use and keeps no per-generation state.
package luma
