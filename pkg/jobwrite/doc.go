// Package jobwrite is the one path by which a job is created or changed.
//
// Every service that writes a job (ingest, router, worker, sweeper) goes
// through a Writer:
//
//   - Create stores a new job with its first timeline events, once per id
//     (an existing job is returned as it is: idempotency keys and
//     redelivered job requests give the same job);
//   - Update reads the job, applies a function that changes it (and may
//     read backends or reserve budget through the Tx it gets), settles the
//     budget, and writes the job, the backend states and the timeline
//     events, all in one store transaction.
//
// # Budget
//
// The budget side (DESIGN invariants 3 and 4) is not the caller's to
// remember: when the change ends the job's latest attempt or the job itself
// (budget.NeedsSettlement), Update settles it in the same transaction: the
// attempt's cost is charged exactly once (its ledger entry) and what the
// job holds reserved is carried to the next attempt or released. A change
// that dispatches a new attempt reserves its estimate with Tx.Reserve. The
// thresholds a change crosses are published to aiprod-events after the
// commit (at most once, see budget.PublishThresholds).
//
// # Retries
//
// One policy for every caller (Config.Retry): store conflicts and
// transient errors run the whole read–change–write again, with the change
// function applied to the job as read anew. Errors the change function
// returns are never retried and come back as they are (errors.Is works);
// ErrNoChange makes Update write nothing and report Written false.
//
// # Timeline
//
// Events added with Tx.AddEvent get the Writer's stage and the trace and
// span ids of the context (DESIGN invariant 7) when they have none, and the
// transaction's time when they have no time.
package jobwrite
