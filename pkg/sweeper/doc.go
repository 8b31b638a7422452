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
// Every Interval, for each of queued, dispatched and running, Sweep reads
// up to Batch jobs of every project whose updated_at is older than that
// status's horizon (store.StaleJobs.ListStale, least recently updated
// first) and applies Decide to each:
//
//   - Progress is LastProgress: updated_at, or a later time of the current
//     attempt (started, submitted, last progress, ended), which workers
//     write without touching updated_at.
//   - A re-drive is due when the horizon (QueuedAfter 2m, DispatchedAfter
//     5m, RunningAfter 15m by default) has passed since progress. Each
//     re-drive in a row without progress doubles the wait (horizon·2^n),
//     so a job that is only waiting in a long, healthy backlog (say, behind
//     a backend's concurrency limit) is re-driven rarely: the sweeper cannot
//     tell a lost message from a slow queue, and a re-drive of a job whose
//     message is still queued only adds a duplicate that the consumers
//     ignore.
//   - After MaxRedrives (3) re-drives in a row without progress, the next
//     due re-drive becomes a failure with code timeout; so does reaching
//     HardTimeout (3h) since created_at, progress or not.
//
// The count lives on the job (job.Job.Redrives, RedrivenAt): a re-drive
// sets RedrivenAt and updated_at to the same instant, so the count holds
// exactly while nothing else changed the job (RedrivesInARow), and
// updated_at moves the job out of the stale window for a horizon.
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
// Every router runs a sweeper, and they may sweep at the same time. Apply
// re-reads the job in a transaction and decides again on what it reads;
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
