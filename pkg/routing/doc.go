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
// Candidates are ranked by estimate, cheapest first; equal estimates break on
// the higher measured success rate, then the lower median latency (a backend
// without stats ranks after one with stats), then the name, so a decision is
// deterministic.
package routing
