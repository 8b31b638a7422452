// Package sweeper is AIPROD's stuck-job sweeper: a safety net that finds
// jobs that stopped moving and re-drives them, or fails them with code
// timeout, so that no job is left hanging (DESIGN invariant 1).
//
// Pub/Sub redelivery already recovers from crashed consumers. The sweeper
// covers what redelivery cannot: a message that was dead-lettered, acked by
// mistake, or never published (a service that committed a state change and
// crashed before publishing, with no message left to redeliver), and jobs
// that keep failing to make progress.
//
// # Finding stuck jobs
//
// Every Interval, Sweep reads up to Batch jobs of every project in each of
// queued and running whose updated_at is older than that status's horizon
// (store.StaleJobs.ListStale, least recently updated first), the
// dispatched jobs per catalog backend (below), and applies Decide to each:
//
//   - Progress is LastProgress: updated_at, or a later time of the current
//     attempt (started, submitted, last progress, ended), which workers
//     write without touching updated_at.
//   - A re-drive is due when the horizon (QueuedAfter 2m, DispatchedAfter
//     5m, RunningAfter 15m by default) has passed since progress. Each
//     re-drive in a row without progress doubles the wait (horizon·2^n).
//   - After MaxRedrives (3) re-drives in a row without progress, the next
//     due re-drive becomes a failure with code timeout; so does reaching
//     HardTimeout (3h) since created_at, progress or not.
//
// The count lives on the job (job.Job.Redrives, RedrivenAt): a re-drive
// sets RedrivenAt and updated_at to the same instant, so the count holds
// exactly while nothing else changed the job (RedrivesInARow), and
// updated_at moves the job out of the stale window for a horizon.
//
// # A backlog is not stuck
//
// A dispatched job waiting for one of its backend's concurrency slots
// writes nothing while it waits (a write per job per try would cost more
// than the backlog), so the sweeper judges its backend instead, from what
// the workers write anyway (store.ReadSlots: per sweep and capped
// backend, one read of the document that holds its slots and waiting
// marks, store.SlotTable, in a transaction that writes nothing):
//
//   - The backend is busy (Backlog.Busy) when every slot is held, or was
//     released within TurnoverWindow (10 s: in a backlog the next delivery
//     takes it at once), or a waiting mark is fresh (a delivery was refused
//     a slot within the mark's 10 s; workers hold Prefetch deliveries beyond
//     the concurrency, which keep the mark fresh in a backlog).
//   - Its age (Backlog.Age) is the longest time since dispatch among the
//     attempts holding a slot (Slot.DispatchedAt, recorded by the worker
//     with the slot it takes): how long the work now running has been in
//     the system, waiting and generating.
//   - While busy, a dispatched job on that backend may wait
//     DispatchedAfter + BacklogFactor·Age (BacklogFactor 2: a margin for a
//     queue that is not first in, first out) before a re-drive is due.
//
// Dispatched jobs are read per catalog backend (StaleQuery.Backend) with
// that extended horizon, so a backlog costs no read of its waiting jobs
// and does not fill the page in which another backend's stuck job would
// be found. One more query reads dispatched jobs not updated within
// HardTimeout (DispatchedAfter without one), whatever their backend, so
// that a job dispatched to a backend gone from the catalog still ends.
//
// The safety net holds: a job whose dispatch message was lost is re-driven
// at the first sweep once it has waited DispatchedAfter + 2·Age — about
// twice the wait of the jobs now getting slots when the queue is roughly
// first in, first out — or, when the backlog ends (slots free for 10 s,
// marks expired), once it has waited DispatchedAfter. Worst case: a sweep
// Interval (+10% jitter) after the later of DispatchedAfter + 2·Age (Age
// being at most the oldest running attempt's time since dispatch) and the
// end of the backlog; and never later than HardTimeout since it was
// created, when it fails with timeout like every unfinished job. A backend
// without a concurrency cap (or a sweeper without a Catalog) has no
// backlog: DispatchedAfter applies as before.
//
// # Re-driving
//
// A re-drive publishes again the message that moves the job on; every
// consumer is idempotent, so a duplicate is harmless:
//
//   - queued: a routing request to aiprod-jobs (attributes job_id,
//     project_id, attempt = next, as a worker's reroute); the router routes
//     a queued job and republishes the dispatch of a dispatched one.
//   - dispatched: the dispatch of the current attempt to
//     aiprod-dispatch-<backend>; a worker takes it.
//   - running: the same dispatch; a worker finds the attempt's stored
//     handle and resumes polling (or applies its rule for an intent without
//     a handle), never submitting twice.
//
// # Failing
//
// A failure is one transaction: the job moves to failed with code timeout
// and a message saying why, its unfinished current attempt fails with
// timeout, what it holds of its budget is released (package budget), and a
// "failed" event is added. The job's lifecycle event is published to
// aiprod-events afterwards (retried briefly; logged when it cannot be). A
// generation still running at the provider is not canceled here; a worker
// polling it finds the job terminal.
//
// # Several sweepers
//
// Every router runs a sweeper, and they may sweep at the same time. Each
// due job is re-read in a transaction and decided again on what is read
// (with the backlog its sweep saw);
// the first sweeper's write (updated_at and RedrivenAt moved to now, or the
// terminal status) makes Decide answer Leave for the others, so each due
// re-drive is published once (at least once: a publish that fails after
// the commit is not retried until the next due re-drive) and each failure
// is a guarded transition.
//
// # Events and traces
//
// Re-drives and failures are timeline events of stage "router" (types
// "redriven" and "failed"), and run in a span of the job's trace,
// parented on the job's first recorded span, so the messages they publish
// carry the job's trace (invariant 7).
package sweeper
