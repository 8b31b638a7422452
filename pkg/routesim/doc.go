// Package routesim replays a workload trace through AIPROD's routing on a
// simulated clock and compares it with the usual policies (`aiprod
// simulate`, DESIGN "Economics"). It is a discrete-event loop: no
// goroutine, no sleep, the same result for the same trace and seed.
//
// # What is simulated
//
// Each backend of the trace's catalog has its concurrency slots (catalog
// Concurrency; 0 is no cap) and a FIFO queue of attempts waiting for one.
// An attempt that starts at time t behaves as the trace's behaviour window
// of its backend at t says (a backend with none is up, with no errors, p50
// 30 s and p95 60 s): refused within RefusalDelay when the backend is down;
// otherwise its generation time is drawn from the log-normal distribution
// with that p50 and p95, and it fails with the window's error rate, halfway
// through. A success costs its catalog estimate; a failure costs nothing
// (providers do not bill failed generations). A failed attempt comes back
// to routing RerouteDelay later with its backend excluded, as the worker
// reroutes; a job fails after MaxAttempts attempts or when no backend is
// left. The draws are per job and backend (common random numbers): every
// policy meets the same failures and generation times, and the oracle
// reads them in advance.
//
// # Policies
//
//   - aiprod: routing.Decide, the real code, with what the services give
//     it: the circuit breakers the workers keep (package circuit, a probe
//     acquired as the router does), the figures the usage roller learns
//     (package learn, folded a minute at a time, two minutes late), the
//     load the router reads every two seconds plus its own dispatches,
//     deadlines (the request's or the tier's default) and 1% exploration.
//   - cheapest: the cheapest capable backend, health aside.
//   - round-robin: the capable backends in turn.
//   - shuffle: a capable backend at random, avoiding one that failed in
//     the last ShuffleCooldown (5 s).
//   - inverse-price-squared: at random, weighted by 1/price².
//   - oracle: clairvoyant: the cheapest backend where the attempt will
//     succeed and finish within the job's deadline (its own, or the tier's
//     default), counting exactly the wait behind the attempts queued
//     there; greedy, job by job.
//
// Every policy chooses among the backends that routing's filters keep
// (allow-list, capabilities, max_cost_usd, the job's failed backends).
//
// # Traces
//
// Format as DESIGN says; ParseTrace checks it. traces/ ships four
// (generate.go writes them): steady (a mix of jobs, one every 6 s for an
// hour, the cheapest backend also the slowest), outage (the same with the
// cheapest backend down for ten minutes), flaky (the cheapest backend
// failing 20% of its generations) and burst (600 jobs in ten seconds, each
// with a 15-minute deadline, on top of the steady mix: 60 times the
// cheapest backend's concurrency). TestShippedTraces asserts issue 15's
// must-shows on each.
package routesim
