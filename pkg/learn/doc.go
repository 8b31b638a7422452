// Package learn is what AIPROD learns of each backend from the attempts it
// settled, per job shape, and the estimator that turns it into the figures
// routing ranks by: success probability, generation time (p50, p95, mean),
// cost accuracy (actual cost over estimate) and how many samples back them.
// It is pure, apart from Fold, which runs in the usage roller's transaction;
// the router and the simulator (package routesim) use the same code.
//
// # Shapes
//
// A job's shape is its tier, resolution, duration bucket (up to 5 s, 10 s,
// 20 s, 60 s) and whether it starts from an image: "standard/720p/5s/t2v".
// 96 shapes exist; a backend's figures are kept per shape, because a 4k
// premium generation neither fails nor takes as long as a 5 s draft.
//
// # What is kept, and where
//
// One document per backend (store.BackendStats, backend_stats/{backend}),
// a cell per shape, each holding exponentially decayed sums (half-life
// HalfLife, a day): successes, failures, a histogram of the successes'
// generation times over 66 fixed log-spaced buckets (1 s to 2 h, each 15%
// wider than the one before, so a quantile read from it is within about
// 8%), their sum, and the sums of actual cost over estimate of the
// successes and of what failures were billed over their estimate. Sums
// decayed to a common time add up, so cells merge exactly (a backend's
// figures over every shape are the sum of its cells) and folding is
// associative: the order of rounds does not matter.
//
// No settlement writes these documents. The usage roller (budget.Roller)
// already reads every settled ledger entry once, in rounds, each round in a
// transaction that moves its watermark; Fold runs in that transaction and
// writes each backend's document once per round (a minute), so a busy
// backend costs one write a minute, not one per job, and every entry is
// learned from exactly once. The figures lag by the roller's lag (two
// minutes): the circuit breakers react to an outage at once; this is for
// the slower truth of success rates, latencies and prices.
//
// # Counting
//
// An attempt that succeeded is a success, with its generation time (submit
// to result). One that failed is a failure, unless the fault was not the
// backend's: content_rejected (the provider's safety filter: the prompt's
// doing), invalid_request and canceled are not counted. A refusal at submit
// (429, 503) counts: the backend did not serve the job.
//
// # The estimator
//
// Success probability is the mean of a Beta posterior. Its prior for a
// backend is Beta(DefaultPrior.Success·W, (1−DefaultPrior.Success)·W) with
// W = 10: a new backend is assumed to succeed 90% of the time, as much as
// ten observed attempts say. Optimistic enough that a new backend that is
// cheaper wins traffic and shows what it is within about ten jobs,
// cautious enough that at the same price a backend proven at 99% is
// preferred to one never tried. The prior of a shape is its backend's
// posterior over every shape, again with weight W, so a shape never seen
// on a backend borrows what the backend showed on others.
//
// Generation time comes from the shape's histogram once it holds
// MinLatencySamples successes, else from the backend's over every shape,
// else from the prior (p50 60 s, p95 120 s: a typical video model). Cost
// accuracy is the mean of actual over estimate, shrunk towards 1 with the
// weight of two samples; failure cost the mean billed fraction of a
// failure, shrunk towards 0 likewise.
//
// # Anomalies
//
// Fold also counts each attempt in its backend's 5-minute window
// (store.StatsWindow: counts, not decayed; 12 hours kept). Detect judges
// three signals — generation time (geometric mean), error rate, cost
// accuracy — over the last 15 minutes against the earlier windows cut
// into blocks of as many samples, by the blocks' median and median
// absolute deviation (Judge): robust to earlier incidents, and scaled by
// the sampling noise of a sample that size. The error rate goes through
// Anscombe's transform first. A robust z-score of StartScore starts an
// anomaly, under EndScore ends it; the state is kept in the backend's
// stats (store.Anomaly), and Folder announces each change once, as a
// backend.anomaly event (AnomalyEvent), after the round committed.
package learn
