// Package budget keeps AIPROD's hard budgets (DESIGN invariant 4) and its
// cost ledger (invariant 3): a job's estimate is reserved before dispatch,
// settled to the actual cost when its attempt ends, released on failure or
// cancel, and every attempt's cost is recorded once, in the transaction
// that changes its status.
//
// # Model
//
// Money is integer micro-USD (package money) everywhere. A project has an
// optional monthly limit and optional per-user limits (store.Budget, in
// projects/{project}). Each calendar month in UTC is a period ("2026-11",
// PeriodOf) with spent and reserved amounts: one document for the project
// (projects/{project}/periods/{yyyy-mm}) and one per user of the project
// (.../users/{user}). A period is tracked even without a limit, so usage is
// always right and a limit set mid-month counts what was already spent.
// Each settled attempt has a ledger entry, ledger/{job_id}-{attempt}: its
// id makes it exactly-once.
//
// An attempt is charged to the period of its dispatch (PeriodOf of
// Attempt.StartedAt), where it was reserved, even when it ends in the next
// month: the reservation and its settlement meet on the same document, so
// spent + reserved of a month never passes its limit through a rollover.
//
// # Arithmetic
//
// Reserve, Move, Settle, Release and Crossed are pure functions over
// store.Period, tested by table. Reserve refuses when spent + reserved +
// estimate would pass the limit, with an *ExceededError (errclass.Budget)
// whose message gives limit, spent, reserved and estimate. A job with a
// user must fit both the project's and the user's limit. No limit means
// unlimited. Actual costs above the estimate are recorded as they are: spent
// may then pass the limit by that difference (money already spent), but no
// new reservation fits until it is back under.
//
// # In a transaction
//
// JobTx applies the arithmetic to one job inside a store transaction,
// reads first (Prepare, Reserve) and writes last (Apply). Where a job's
// reservation lives at any moment:
//
//   - attempt n without a ledger entry holds Attempt.Reserved;
//   - attempt n with a ledger entry holds the entry's Carried while the job
//     is not terminal (a failover in progress), nothing once it is.
//
// The router reserves for a new attempt (moving what the job still holds
// from a failed attempt: failover keeps its place); the worker settles an
// attempt that ended (success: release the reservation, charge the cost;
// failure that ends the job or cancel: release it, charge what the
// provider billed; failure that fails over: charge what was billed and
// carry the rest to the next attempt); the API's cancel releases what a
// queued or dispatched job holds. An attempt running at the provider when
// its job is canceled is settled by the worker that cancels it there, with
// the billed cost. Because the state above is derived from the job and its
// ledger entries, any transaction may settle what an earlier one left
// unsettled, and none settles anything twice.
//
// Reconcile (and Check, which reads the store) verifies that the ledger
// total of a period equals its spent and the sum of its attempts' costs,
// and that its reserved equals what its unfinished jobs hold.
//
// # Thresholds
//
// When spent + reserved of a project's period first reaches 50%, 80% or
// 100% of its limit, a budget_threshold event is published to aiprod-events
// (PublishThresholds, after the commit). The thresholds already announced
// are kept on the period (Period.Notified) and set in the transaction that
// crosses them, so each is announced once per period; a publish that fails
// is logged and not retried (at most once). The measure is spent +
// reserved, the amount the hard budget enforces: spent alone may never
// reach 100% while the project is already refused.
//
// # Usage
//
// GET /v1/usage reads daily roll-ups of the ledger (store.DayUsage, one
// per project and UTC day of settlement), not the ledger: Roller adds the
// entries settled since a watermark to their days, every project's at
// once, and moves the watermark in the same transaction, so each entry is
// rolled up once. Usage reads the whole days of a range from their
// roll-ups and the rest (part days at the ends, the minutes since the
// watermark) from the ledger. Roll-ups add up (Tally): a backend's jobs are
// the attempts it settled, a user's or a day's the jobs that ended there,
// so a sum of days is the answer over the range. No settlement writes a
// roll-up: a busy project has no hot usage document.
//
// # Scale
//
// Every job writes its project's period document twice (reservation and
// settlement), and Firestore sustains about one write per second on one
// document. Past that, transactions on the period contend and retry, and
// throughput stops growing. Not implemented yet (one document is enough
// below ~0.5 jobs/s per project); the design that keeps the hard guarantee:
//
//  1. Shards. The period is split into K shard documents
//     (projects/{p}/periods/{m}/shards/{k}), each with its own allotment,
//     spent and reserved. The invariant becomes per shard: spent_k +
//     reserved_k ≤ allotment_k, and Σ allotment_k ≤ limit on the period
//     document. A reservation touches one shard only (chosen by hash of the
//     job id, falling back to the next shard when it does not fit), so K
//     shards take K times the write rate. Settlement goes to the shard
//     recorded on the attempt (a new Attempt field), as the period does
//     today.
//  2. Leases. Allotments are leased from the period document in chunks
//     (say 5% of the limit, at least 20 estimates): a shard that cannot fit
//     a reservation takes a chunk in a transaction over the period and the
//     shard (Σ allotments stays ≤ limit), and a shard with unused allotment
//     returns it when it falls idle or when another shard needs it. The
//     period document is then written once per chunk, not per job.
//  3. Near the limit the chunks shrink to one estimate and a reservation
//     may have to gather allotment from several shards in one transaction
//     (at most a handful of documents): throughput drops back towards one
//     document's, which is the price of a hard budget with little headroom.
//     Soft thresholds and usage sum the shards (K reads).
//
// This never overshoots: every reservation is checked against its shard's
// allotment inside a transaction, and allotments are moved only in
// transactions that keep their sum within the limit. Router instances
// holding chunks in memory (instead of shard documents) would be faster
// but lose the chunk on a crash until its lease expires; shard documents
// keep the accounting in Firestore, where reconciliation can see it.
package budget
