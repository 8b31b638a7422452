// Package routing decides which backends may serve a job request and in
// which order, as a pure function of the request, the catalog, the shared
// backend health and the job's history. It does no I/O: the router service
// reads health from the store, calls Decide, and takes a half-open probe in
// a transaction when the best candidate needs one.
//
// # Filters
//
// Every backend of the catalog (and every name of the request's allow-list
// that the catalog does not know) goes through these filters in order; the
// first that removes it names the reason in Decision.Rejected (built when
// asked for, like Explain: a decision that finds a candidate makes no text):
//
//  1. allow-list: Request.Backends, when not empty ("not in allow-list");
//  2. excluded: backends that already failed this job ("excluded after
//     failure");
//  3. disabled: drained by an admin ("disabled");
//  4. capability and tier: catalog Backend.Quote finds the cheapest offer
//     meeting tier, resolution, aspect ratio, duration, audio and
//     image-to-video, or says why each offer cannot;
//  5. max_cost_usd: "estimate $X over max_cost_usd $Y";
//  6. health: circuit.Peek on the stored breaker. Deny removes the backend
//     ("circuit open ..." or "circuit half-open: probe in flight"); Probe
//     keeps it as a Candidate with Probe set, which the caller must acquire
//     (circuit.Acquire, stored) before dispatching to it.
//
// A backend absent from Health is enabled with a closed circuit.
//
// # Retrying a backend that refused
//
// When the filters leave no candidate and some excluded backends are in
// Input.Retryable (they refused the job's submit without taking it on: 429,
// 503, connection refused), the filters run again with those backends not
// excluded; the candidates found are marked Retry. A job whose only capable
// backend was rate-limited once is thus retried there (the router makes
// the new attempt wait for the refusal's Retry-After or backoff) instead of
// failing no_backend; its circuit still stops retries at a backend that
// keeps failing. Backends that failed in any other way are never retried
// for the same job: the generation may have been taken on.
//
// # Ranking
//
// Candidates are ranked by expected cost per successful video (DESIGN
// "Economics"), from each backend's learned figures for the request's
// shape (Input.Stats, package learn; a backend nothing was learned of has
// the prior's). With p its success probability, c its estimate times its
// cost accuracy (what a success is expected to cost), w what a failure is
// expected to be billed, and E the expected cost per success of the best
// other candidate, the job would fail over to:
//
//	score = p·c + (1 − p)·(w + E)
//
// that is, the price when it succeeds plus, when it fails, what the
// failure was billed and the failover costs. E of a candidate retried on
// its own is c + w·(1 − p)/p. With no failures this is the estimate; a
// cheap but flaky backend whose failures are free stays first (the oracle
// would send it every job it can do), one whose failures are billed drops.
// Equal scores break on the higher success probability, then the lower
// median generation time, then the name, so a decision is deterministic.
//
// # Deadlines
//
// A job's deadline is its deadline_seconds from acceptance or, without one,
// its tier's default (DefaultDeadline: draft 15 min, standard 30 min,
// premium 1 h: generous next to generation times of a minute or two, so
// only a real backlog spills). Each candidate's expected completion is
//
//	finish = wait + p95 + (1 − p)·finish of the best other candidate
//
// where wait is the expected wait for one of its concurrency slots (catalog
// Concurrency): the jobs ahead of a free slot (Load: slots in use and jobs
// dispatched but not running, plus this one, minus the slots) times the
// mean generation time, over the slots. Candidates expected to miss the
// deadline (Late) rank after every candidate that meets it, so when the
// cheapest backend is saturated the job spills to the next one rather than
// waiting past its deadline. When every candidate would miss it, they rank
// by expected completion: the job still runs, where it ends soonest.
//
// # Exploration
//
// Figures of a backend that gets no traffic go stale. A job whose draw
// (Input.Explore.Draw, fixed per attempt) falls under Explore.Share (the
// router's default ExploreShareDefault, 1%; never above MaxExploreShare,
// 2%) goes to a candidate whose figures are stale (fewer than
// ExploreMinSamples attempts, or none settled in ExploreStaleAfter),
// chosen by the draw among them, provided that it meets the deadline, is
// not a probe or a retry, and its score is at most ExploreMaxPremium (50%)
// above the best's; max_cost_usd already holds, as for every candidate.
// Only when the best candidate's own figures are fresh: while every
// backend is new, the traffic itself explores.
// So exploration costs at most 1% × 50% = 0.5% of spend, and nothing when
// every backend gets traffic of its own.
package routing
