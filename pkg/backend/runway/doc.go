// Package runway is AIPROD's backend.Backend for the Runway API
// (https://docs.dev.runwayml.com/api, version 2024-11-06).
//
// # Protocol
//
// Every call carries "Authorization: Bearer <key>" and
// "X-Runway-Version: 2024-11-06" and goes to Config.Endpoint
// (https://api.dev.runwayml.com by default).
//
//   - Submit: POST /v1/text_to_video {model, promptText, ratio, duration,
//     audio} when the request has no image, POST /v1/image_to_video
//     {model, promptImage, promptText, ratio, duration, audio} when it has
//     one. Runway answers {"id": "<task id>"}; the Handle is that id.
//   - Poll: GET /v1/tasks/{id} → {status, progress, output[], failure,
//     failureCode}. PENDING and THROTTLED (accepted, waiting for a
//     concurrency slot) are pending, RUNNING is running, SUCCEEDED gives
//     output[0] as the video URL (it expires in 24–48 h: copy it soon),
//     FAILED is failed, CANCELLED is canceled.
//   - Cancel: DELETE /v1/tasks/{id}; 404 is success (already gone).
//   - PollInterval: 5 s by default, Runway's guidance.
//
// # Models
//
// Runway chooses resolution and aspect ratio together with a "ratio" string
// in pixels. The adapter maps AIPROD's (resolution, aspect ratio) per model:
//
//	gen4_turbo   image-to-video only; 720p: 16:9 1280:720, 9:16 720:1280, 1:1 960:960; 2–10 s
//	gen4.5       720p; text-to-video 1280:720 or 720:1280, image-to-video also 960:960; 2–10 s
//	veo3.1,      720p (1280:720, 720:1280) or 1080p (1920:1080, 1080:1920), no 1:1;
//	veo3.1_fast  4, 6 or 8 s; "audio" is always sent, since audio changes the price
//	veo3         as veo3.1 but 8 s only, audio always generated
//
// A request the model cannot serve (gen4_turbo without an image, 1:1 on Veo,
// 1080p on gen4_turbo, audio on a silent model, a prompt over 1000 UTF-16
// code units, an image that is not an https URL or data URI, an unknown
// model) fails before any call with an errclass.Permanent error whose text
// starts "runway: invalid_request:".
//
// # Errors
//
// HTTP answers are classified in one place, providerhttp.Client.Error,
// through errclass.FromHTTPStatus: 400 is Permanent with Runway's
// {"error": "..."} message, 404 NotFound, 429 and 5xx Retryable, with their
// Retry-After (errclass.RetryAfter), 401/403 Retryable (the backend's
// credential, not the job, is at fault), 402 Retryable (the account is out
// of credits). An unreadable body on a 2xx is Retryable, never a panic.
// Error text never contains the API key or request headers.
//
// A FAILED task carries Status.Err classified by failureCode: any SAFETY
// segment (SAFETY.INPUT.TEXT, SAFETY.OUTPUT.*, INPUT_PREPROCESSING.SAFETY.*)
// is errclass.ContentSafety; ASSET.* and INPUT.* are Permanent; INTERNAL.*
// (INTERNAL.BAD_OUTPUT.*), INPUT_PREPROCESSING.INTERNAL and unknown codes are
// Retryable. Failed tasks are not billed (Runway returns the credits);
// canceled ones are assumed billed, since Runway does not say otherwise.
//
// # Duplicate submission
//
// Runway documents no idempotency key, and has no endpoint that lists tasks:
// a task can only be found by its id, so the adapter does not implement
// backend.Finder. The worker must record its intent
// to submit (job id and attempt) before calling Submit, and the handle right
// after it returns. On redelivery:
//
//   - intent with a handle: resume polling the handle, never submit again;
//   - intent without a handle: Submit may or may not have created a task
//     (crash between the provider's answer and the write, a transport error
//     after the request left, or an unreadable 2xx answer, which Submit
//     reports as Retryable "the task may exist"). Runway offers no way to
//     find it by our id, so the choice is to submit again and risk paying
//     twice, or fail the attempt. The only after-the-fact check is the
//     organization's usage (GET /v1/organization/usage, credits per model
//     per day), which cannot name a task. The lost task, if any, expires
//     unseen; its cost shows up in usage reconciliation.
//
// # Concurrency
//
// A Backend is safe for concurrent use. It keeps no per-task state, so any
// worker instance can poll or cancel any handle.
package runway
