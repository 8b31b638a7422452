// Package job is AIPROD's domain model of a video job: the request a user
// submits and its validation, the job record with its attempts, and the state
// machine that says which status changes are legal.
//
// # Request
//
// DecodeRequest reads a JSON job request strictly (unknown fields are an
// error), applies the defaults (720p, 16:9, standard) and validates every
// rule of the HTTP API. Every error is a *FieldError naming the JSON field.
//
// # States
//
//	queued ──▶ dispatched ──▶ running ──▶ succeeded
//	  ▲            │             │
//	  └────────────┴─────────────┘   (reroute after a retryable backend failure)
//	any non-terminal ──▶ failed | canceled
//
// succeeded, failed and canceled are terminal: nothing leaves them. Transition
// is a pure function; stores call it inside their transactions so that a
// redelivered message can never move a job backwards.
//
// # Identity
//
// Job ids are random UUIDv4s, except when the caller gives an idempotency key:
// then the id is the UUIDv5 of the project and the key, so the same key always
// names the same job.
package job
