package learn

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/store"
)

// Buckets is the number of buckets of a generation-time histogram: bucket
// 0 holds [0, 1 s), bucket k (1 ≤ k < Buckets−1) [r^(k−1), r^k) seconds
// with r = bucketRatio, and the last everything from r^(Buckets−2) s
// (about 2 h 8 min) on.
const Buckets = 66

const bucketRatio = 1.15

var logRatio = math.Log(bucketRatio)

// bucketOf returns the bucket of generation time d.
func bucketOf(d time.Duration) int {
	s := d.Seconds()
	if s < 1 {
		return 0
	}
	return min(int(math.Log(s)/logRatio)+1, Buckets-1)
}

// quantile returns the q-quantile (0 < q < 1) of histogram h, interpolated
// geometrically within its bucket; 0 for an empty histogram.
func quantile(h []float64, q float64) time.Duration {
	var total float64
	for _, v := range h {
		total += v
	}
	if total <= 0 {
		return 0
	}
	target, cum := q*total, 0.0
	for k, v := range h {
		if v <= 0 || cum+v < target {
			cum += v
			continue
		}
		frac := (target - cum) / v
		var s float64
		if k == 0 {
			s = frac
		} else {
			s = math.Pow(bucketRatio, float64(k-1)+frac)
		}
		return time.Duration(s * float64(time.Second))
	}
	return time.Duration(math.Pow(bucketRatio, Buckets-2) * float64(time.Second))
}

// Prior is what is assumed of a backend before anything is learned.
type Prior struct {
	Success float64       // prior mean success probability
	Weight  float64       // how many observations the prior is worth
	P50     time.Duration // generation time
	P95     time.Duration
}

// DefaultPrior is what is assumed of a new backend: see the package doc,
// "The estimator".
var DefaultPrior = Prior{Success: 0.9, Weight: 10, P50: 60 * time.Second, P95: 120 * time.Second}

// costWeight is how many samples the neutral cost accuracy (1) and failure
// cost (0) are worth.
const costWeight = 2

// Figures are the learned figures of a backend for one job shape, as
// routing uses them.
type Figures struct {
	// Success is the probability that an attempt succeeds: the mean of the
	// Beta posterior (prior included).
	Success float64
	// Samples is how many attempts the figures rest on (decayed: an
	// attempt a day old counts half).
	Samples float64
	// P50, P95 and Mean are generation times, submit to result.
	P50, P95, Mean time.Duration
	// LatencyLearned says P50, P95 and Mean come from observations, not
	// the prior.
	LatencyLearned bool
	// CostAccuracy is the expected actual cost of a success over its
	// estimate (1: exact).
	CostAccuracy float64
	// FailCost is the expected billed cost of a failure over its estimate.
	FailCost float64
	// At is the time of the latest observation; zero when none.
	At time.Time
}

// Figures returns the figures of a backend nothing was learned of: p's.
func (p Prior) Figures() Figures {
	return Figures{Success: p.Success, CostAccuracy: 1, P50: p.P50, P95: p.P95, Mean: p.P50}
}

// Estimate returns the figures of backend st for shape (Shape.Key) at now,
// by the package doc's estimator under prior p.
func Estimate(st *store.BackendStats, shape string, now time.Time, p Prior) Figures {
	all := Merge(st.Cells, now)
	var cell store.StatsCell
	if i, ok := slices.BinarySearchFunc(st.Cells, shape, func(c store.StatsCell, s string) int { return strings.Compare(c.Shape, s) }); ok {
		cell = Merge(st.Cells[i:i+1], now)
		cell.At = st.Cells[i].At
	}
	return estimate(cell, all, p)
}

// EstimateAll returns the figures for shape at now of every backend of
// names: Estimate of its stats, the prior's for one absent from stats.
func EstimateAll(names []string, stats map[string]store.BackendStats, shape string, now time.Time, p Prior) map[string]Figures {
	out := make(map[string]Figures, len(names))
	for _, name := range names {
		st := stats[name]
		out[name] = Estimate(&st, shape, now, p)
	}
	return out
}

// Overall returns the figures of backend st over every shape at now.
func Overall(st *store.BackendStats, now time.Time, p Prior) Figures {
	all := Merge(st.Cells, now)
	all.At = latest(st.Cells)
	return estimate(all, store.StatsCell{}, p) // the prior's own mean as the prior
}

func latest(cells []store.StatsCell) time.Time {
	var t time.Time
	for _, c := range cells {
		if c.At.After(t) {
			t = c.At
		}
	}
	return t
}

// estimate applies the estimator to cell, all being the backend's cell
// over every shape, both decayed to the same time.
func estimate(cell, all store.StatsCell, p Prior) Figures {
	backend := (p.Success*p.Weight + all.Successes) / (p.Weight + all.Successes + all.Failures)
	n := cell.Successes + cell.Failures
	f := Figures{
		Success:      (backend*p.Weight + cell.Successes) / (p.Weight + n),
		Samples:      n,
		CostAccuracy: (costWeight + cell.CostRatio) / (costWeight + cell.Successes),
		FailCost:     cell.FailCostRatio / (costWeight + cell.Failures),
		P50:          p.P50, P95: p.P95, Mean: p.P50,
		At: cell.At,
	}
	for _, c := range []store.StatsCell{cell, all} {
		if c.Successes >= MinLatencySamples {
			f.P50, f.P95 = quantile(c.Latency, 0.5), quantile(c.Latency, 0.95)
			f.Mean = time.Duration(c.GenSeconds / c.Successes * float64(time.Second))
			f.LatencyLearned = true
			break
		}
	}
	return f
}
