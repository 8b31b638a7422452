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
// first that removes it names the reason in Decision.Rejected:
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
// # Ranking
//
// Candidates are ranked by estimate, cheapest first; equal estimates break on
// the higher measured success rate, then the lower median latency (a backend
// without stats ranks after one with stats), then the name, so a decision is
// deterministic.
package routing
