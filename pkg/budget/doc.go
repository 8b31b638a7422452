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
// PeriodOf) with spent and reserved amounts: for the project
// (projects/{project}/periods/{yyyy-mm}) and for each user of the project
// (.../users/{user}), each a head document and shards (see "Shards"). A
// period is tracked even without a limit, so usage is always right and a
// limit set mid-month counts what was already spent.
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
// # Ledger events
//
// With RollerConfig.LedgerEvents set (the router and aiprod dev set it),
// each round also publishes every entry it rolls up to aiprod-events as a
// cost.ledger_entry event (LedgerEvent), which the warehouse's BigQuery
// subscription stores (infra/README.md, "Warehouse"). It publishes before
// the round's transaction, and a failed publish ends the round before it
// writes: an entry passes the watermark only after its event went out, so
// each entry is published at least once and never lost; a round that
// fails or races after publishing leaves duplicates, which share the
// entry's id (PublishLedger). Entries rolled up before an upgrade to this
// version are not published.
//
// # Forecast
//
// ReadSpend reads a project's last 30 days of usage from the roll-ups
// (Usage: at most 31 roll-ups and the ledger since the watermark), never
// a month of the ledger; Spend.Forecast projects the month to its end
// with package forecast (trend and weekly season, an interval, when the
// limit runs out) and GET /v1/forecast shows it. The usage by job shape
// over the same days (Tally.Shapes, from DayUsage.Shapes) feeds GET
// /v1/recommendations.
//
// The budget.forecast event (ForecastEvent: the projection first passed
// the monthly limit) is computed and published by the usage roller, not
// by the API: an alert is for when nobody looks, so it cannot wait for a
// GET; the roller runs every minute in every router, knows which projects
// have new spend (those of its round, the only ones whose projection
// moves up) and already reads their budgets for the gauges. It projects
// each such project at most once per RollerConfig.ForecastEvery (15
// minutes: about 33 reads per busy project per check), and at most 20 per
// round so that projections do not hold roll-ups back; CheckForecast
// records the announcement on the period's head (ForecastNotified) in a
// transaction before publishing, so racing rollers announce it once per
// period, at most once like thresholds. Spend in the roll-ups is by
// settlement day, the budget's by dispatch month: they differ by the
// attempts that straddle midnight at a month's end.
//
// # Shards
//
// A period with one document takes one write per reservation and one per
// settlement, and Firestore sustains about one write per second on a
// document: contending transactions abort and retry with backoff, so one
// project's throughput stopped there (BenchmarkOneProjectBudget measures
// it). So a period is spread over documents, per account (the project, and
// each user):
//
//   - the head, projects/{p}/periods/{m} (and .../users/{u}): the
//     thresholds announced (Notified), and amounts reserved before shards
//     existed (attempts with BudgetShard 0 settle there);
//   - Shards shards for the project, UserShards for each user,
//     .../periods/{m}/shards/{n}[~{user}], each with its own spent and
//     reserved and an Allotment: what it may hold, granted under the limit
//     in force (GrantedUnder).
//
// A new reservation goes to a shard that no transaction of the same process
// in flight has picked (JobTx.Done ends a pick), looking from a hash of the
// job id (pickShard), so that one router's concurrent transactions meet on
// a shard only when it has more in flight than there are shards; a
// failover moves the held reservation on its shard. The attempt records the
// shard (BudgetShard; the user's shard is derived from it) and settles
// there. The
// invariant is per shard: spent + reserved ≤ allotment, and the allotments
// plus what the head holds stay within the limit. A reservation that fits
// its shard's allotment reads and writes that shard only. One that does not
// gathers the account: it reads the head and every shard, checks the limit
// against their sum (exactly as one document did: the refusal's figures
// are the totals), reserves on its shard and grants allotments again
// (allot): shards granted under another limit count for what they hold;
// when the room left is short, the other shards give back what they do not
// use; then its shard, and every shard with less than half a grant to
// spare, get 1/(2·shards) of the room left (at least two estimates). Near
// the limit the grants shrink and reservations gather more often: the
// price of a hard budget with little headroom.
//
// The project's allotments never reach the next threshold not yet
// announced (allotCap), so the reservation that reaches 50%, 80% or 100%
// is one that gathers, and it announces the threshold in its transaction,
// once. A settlement whose cost exceeds its reservation (money already
// spent) may pass a threshold inside one shard; it is announced by the next
// reservation that gathers. A lowered limit applies at once: allotments
// granted under the old one are not used.
//
// Reads of a whole period (ReadPeriod: the budget view, reconciliation,
// the budget gauges) sum the head and the shards. Within one shard a
// transaction does not know its project's totals, so the budget gauges
// are set where a reservation gathers and by the usage roller for every
// project with settlements in its round (Roller.reportBudgets).
package budget
