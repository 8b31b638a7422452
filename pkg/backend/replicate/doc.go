// Package replicate is AIPROD's backend.Backend for Replicate's HTTP API
// (https://replicate.com/docs/reference/http), for official models run by
// name ("owner/name", e.g. google/veo-3.1-fast).
//
// # Protocol
//
// Every call carries "Authorization: Bearer <token>" and goes to
// Config.Endpoint (https://api.replicate.com by default).
//
//   - Submit: POST /v1/models/{owner}/{name}/predictions {"input": {...}}
//     with "Cancel-After: <Config.CancelAfter>" (15m by default). No
//     "Prefer: wait": it blocks up to 60 s, and a video takes minutes.
//     Replicate answers 201 with the prediction; the Handle is its id.
//   - Poll: GET /v1/predictions/{id} → status starting (pending), processing
//     (running), succeeded (output: the video URL, on replicate.delivery;
//     Replicate deletes outputs after an hour, so copy them promptly),
//     failed (error text), canceled, aborted. Status.DurationSeconds is the
//     input's duration, echoed in the prediction.
//   - Cancel: POST /v1/predictions/{id}/cancel; 404 is not an error.
//   - PollInterval: 2 s by default.
//
// # Models
//
// google/veo-3.1 and google/veo-3.1-fast take prompt, duration 4|6|8 (an
// integer), aspect_ratio "16:9"|"9:16", resolution "720p"|"1080p",
// generate_audio (default true: the adapter always sends it, since audio
// changes the price) and image (an http(s) URL or a data URI) for
// image-to-video. A request outside that, or another model, fails before any
// call with a Permanent error starting "replicate: invalid_request:".
//
// # Billing of canceled and aborted predictions
//
// With Cancel-After, a prediction that has not started by the deadline ends
// "aborted" and is not billed; one still running ends "canceled" and is
// billed (https://replicate.com/changelog/2025-10-16-prediction-deadlines).
// The adapter reports aborted as failed with a Retryable Err and
// Billed=false (the worker may reroute it), and canceled as canceled with
// Billed=true when started_at is set (it ran), false otherwise. Failed
// predictions are reported not billed: official models bill per output.
//
// # Errors
//
// providerhttp.Client.Error maps HTTP statuses through
// errclass.FromHTTPStatus (422 invalid input Permanent, 404 NotFound,
// 401/403/429/5xx Retryable) with two additions: 402 (out of credit) is Retryable, the account's trouble and not
// the job's; a 429 carries Retry-After, or the "resets in ~Ns" of its detail
// when the header is missing. Error bodies are RFC 7807 problems
// ({"title", "detail", "status"}).
//
// A failed prediction has only an error message; failureClass reads it:
// "flagged as sensitive ... (E005)" — what the Veo models return when
// Google's filter refuses, reported by users though absent from Replicate's
// published error codes — and NSFW/safety/content-policy wording are
// ContentSafety; input errors ("invalid", "must be", "not supported") are
// Permanent; everything else (E1000 unknown, E1001 out of memory, E6716
// timeout starting, interruptions) is Retryable. Unreadable or truncated
// bodies are Retryable errors, never panics; error text never holds the token.
//
// # Duplicate submission and reconciliation
//
// Replicate documents no idempotency key, so the worker records its intent
// (job id and attempt) before Submit and the handle right after, and on
// redelivery with a handle polls it. Unlike fal and Vertex, Replicate can
// list the account's predictions, and the adapter is a backend.Finder: with
// intent but no handle, Find lists GET /v1/predictions?created_after= (the
// intent time less providerhttp.ClockSkew, 2 minutes, for clocks that
// disagree; newest first, 100 a page, following "next" on the Endpoint
// only) and compares each prediction's model and input (prompt, duration,
// aspect_ratio, resolution; not the image, which Replicate may echo as a
// file URL) with what Submit would send. One match is adopted instead of
// submitting again; none proves the submit absent (found=false); two
// identical requests in the window cannot be told apart, since a prediction
// carries no field of ours, and are an errclass.Conflict error: the worker
// must not resubmit. Predictions abandoned that way still end: Cancel-After
// bounds what a lost one can cost.
//
// # Concurrency
//
// A Backend is safe for concurrent use and holds no per-prediction state.
package replicate
