// Package veo is AIPROD's backend.Backend for Google Veo on Vertex AI
// (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation).
//
// # Protocol
//
// Every call is a POST with "Authorization: Bearer <OAuth2 access token>"
// from Config.TokenSource (Application Default Credentials via NewDefault;
// tokens last about an hour and are refreshed by the source).
//
//   - Submit: POST {Endpoint}/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predictLongRunning
//     {"instances": [{"prompt", "image"}], "parameters": {"durationSeconds",
//     "aspectRatio", "resolution", "generateAudio", "sampleCount": 1,
//     "storageUri"}, "labels": {"aiprod_job_id", "aiprod_attempt"}} →
//     {"name": "projects/.../operations/{id}"}. The Handle is that name.
//   - Poll: POST .../models/{model}:fetchPredictOperation {"operationName": name}
//     → {name, done, error{code, message}, response{"@type",
//     raiMediaFilteredCount, raiMediaFilteredReasons, videos[{gcsUri, mimeType}]}}.
//     Not done is running; done with videos is succeeded (VideoURL is the
//     first gcsUri); done with raiMediaFilteredCount > 0 and no video is a
//     ContentSafety failure; done with an error is failed, classified by its
//     google.rpc code (rpcClass), CANCELLED being canceled.
//   - Cancel: a no-op returning nil (see below).
//   - PollInterval: 10 s by default.
//
// # Models and inputs
//
// veo-3.1-generate-001 and veo-3.1-fast-generate-001 take 720p, 1080p and
// 4k; veo-3.1-lite-generate-001, veo-3.0-generate-001 and
// veo-3.0-fast-generate-001 take 720p and 1080p; all take 4, 6 or 8 s and
// 16:9 or 9:16. An image must be a gs:// URI (sent as gcsUri) or a base64
// data URI (sent as bytesBase64Encoded): Vertex fetches nothing over
// http(s), and the adapter will not download user-supplied URLs itself (a
// worker inside the VPC fetching arbitrary addresses, the metadata server
// included, is a server-side request forgery). Anything else fails before
// any call with a Permanent error starting "veo: invalid_request:".
//
// # Where the video goes
//
// Config.StorageURI is required. Each attempt writes under
// <StorageURI>/<job id>/<attempt>/ and the VideoURL is the gs:// URI of the
// video, readable by the service account (copy or sign it to share). Without
// storageUri Vertex would return the video base64-encoded inside the
// operation, megabytes with no place in a job record; an operation that
// comes back inline anyway is reported failed (Permanent, billed). In the
// dev stack veosim returns gs://<bucket>/... URIs too, which nothing there
// can download: the dev stack passes a bucket name such as
// gs://aiprod-dev-outputs and the job shows the gs:// URI.
//
// # Errors
//
// providerhttp.Client.Error maps HTTP statuses through
// errclass.FromHTTPStatus: 400 INVALID_ARGUMENT Permanent (ContentSafety when the message is a
// Responsible AI refusal: "usage guidelines", "Responsible AI practices",
// "sensitive words"), 404 NotFound, 401/403 Retryable (the service account,
// not the job, is at fault), 429 RESOURCE_EXHAUSTED (preview models allow
// about 10 requests a minute per project) and 5xx Retryable, with
// Retry-After when Google sends one (it usually does not). Finished
// operations: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
// FAILED_PRECONDITION, OUT_OF_RANGE and UNIMPLEMENTED are Permanent;
// RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ABORTED,
// UNKNOWN and the rest Retryable; safety wording ContentSafety. A 402, which
// Vertex does not document, stays Permanent as errclass.FromHTTPStatus has
// it. Failed and
// filtered generations are reported not billed. Unreadable or truncated
// bodies are Retryable errors, never panics; error text never holds a token.
//
// # Cancel
//
// The Veo reference documents no cancel: its operations live under the
// publisher model and are read with :fetchPredictOperation, and nothing
// says the generic operations.cancel applies to them. Cancel validates the
// handle and returns nil without a call; the generation runs to its end, is
// billed, and its video is left unused under the attempt's prefix.
//
// # Duplicate submission and reconciliation
//
// Vertex documents no idempotency key, and operations cannot be listed or
// found by anything of ours, so the adapter does not implement
// backend.Finder. The worker records its intent (job id and
// attempt) before Submit and the handle right after, and polls the handle on
// redelivery. When a crash left intent without a handle, two traces remain:
// the attempt's own storage prefix (<StorageURI>/<job id>/<attempt>/ — a
// video there means that attempt ran and was billed, and can be adopted
// instead of generating again; empty means nothing finished yet, not that
// nothing was started) and the aiprod_job_id / aiprod_attempt labels, which
// reach the Cloud Billing export for after-the-fact cost reconciliation.
//
// # Concurrency
//
// A Backend is safe for concurrent use (given a concurrency-safe
// TokenSource) and holds no per-operation state.
package veo
