// Package firestorestore is the store.Store of production: Cloud Firestore
// (native mode) through cloud.google.com/go/firestore. Pointed at the
// emulator by FIRESTORE_EMULATOR_HOST, as the client library is.
//
// # Data model
//
//   - jobs/{job_id}: the job. Money is int64 micro-USD (fields *_micros),
//     times are timestamps, the request is a nested map, and expire_at
//     (created_at + Retention) feeds a TTL policy.
//   - jobs/{job_id}/events/{event_id}: the timeline; ids sort by time
//     (store.NewEventID). Events carry their own expire_at (at + Retention),
//     since deleting a job by TTL leaves its subcollections.
//   - backends/{name}: admin's disabled flag and the circuit breaker.
//   - backends/{name}/slots/all: the backend's concurrency slots and the
//     waiting marks of their fair share (store.SlotTable), one document
//     so that taking a slot reads one document whatever the capacity: an
//     array slots (slot i at i: holder, project, acquired_at, expires_at,
//     dispatched_at, released_at, absent when empty) and a map waiting
//     (project → expiry). At most about 500 KB (store.MaxSlots,
//     store.MaxSlotWaiters). The older layout, a document per slot
//     (slots/0..n-1) and slots/waiting, is no longer read: while a
//     rollout runs workers of both, each counts only its own layout's
//     holders, so up to twice a backend's concurrency may be submitted
//     until the old ones stop (the provider refuses the excess with 429,
//     which the worker handles as a refused submit).
//   - apikeys/{sha256 hex}: project, created_at, revoked, prefix,
//     expires_at, last_used_at. ListAPIKeys filters on project_id alone
//     (its automatic single-field index) and sorts in memory.
//   - dlqreplays/{request id}: the outcome of a dead-letter replay
//     (store.DLQReplays), with expire_at (created_at + ReplayRetention)
//     for a TTL policy.
//   - webhook_secrets/{project}: the project's webhook signing secrets,
//     sealed (package secretbox): current, previous, previous_until,
//     rotated_at.
//   - webhook_deliveries/{webhook-id}: one webhook event's delivery state
//     (attempts, next attempt, lease, outcome), with expire_at (first
//     attempt + Retention) for a TTL policy.
//
// Documents are written whole (Set or Create), never merged.
//
// # Indexes
//
// ListJobs and ListStale need composite indexes, and the large or nested
// job fields, and the slot tables' slots and waiting marks, are exempted
// from single-field indexing; indexes.json beside
// this file holds both, with the TTL policies, in the firestore.indexes.json
// format (firebase deploy --only firestore:indexes, or the Terraform
// equivalent):
//
//	jobs: project_id ASC, created_at DESC, __name__ DESC
//	jobs: project_id ASC, status ASC, created_at DESC, __name__ DESC
//	jobs: status ASC, created_at DESC, __name__ DESC
//	jobs: backend ASC, created_at DESC, __name__ DESC
//	jobs: error_code ASC, created_at DESC, __name__ DESC
//	jobs: user_id ASC, created_at DESC, __name__ DESC
//	jobs: status ASC, updated_at ASC, __name__ ASC (ListStale)
//	jobs: status ASC, backend ASC, updated_at ASC, __name__ ASC (ListStale of one backend)
//
// ListJobs filters by equality on any of project_id, status, backend,
// error_code and user_id, with an optional range on created_at, ordered
// created_at DESC, __name__ DESC. Every index of an equality field ends in
// that order, so Firestore merges them for any combination of filters
// (index merging) instead of needing one index per combination; the
// common project and status listing has an index of its own. A search of
// every project with no equality filter uses created_at's automatic
// single-field index. error_code is a top-level copy of error.code, since
// the error map is exempt from indexing.
//
// # Transactions and errors
//
// RunTx is Client.RunTransaction: fn may run several times when Firestore
// aborts a transaction, and a transaction still aborted after the client's
// attempts fails with errclass.Conflict. The Tx buffers writes and hands
// them to the transaction only when fn returns nil. gRPC codes are mapped
// to errclass classes in one place, classify; nothing here retries beyond
// the client library's transaction retries.
//
// # Limits
//
// A Firestore document holds at most 1 MiB: a job whose request carries a
// large data: image URL cannot be stored (errclass.Permanent).
package firestorestore
