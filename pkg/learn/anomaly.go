package learn

import (
	"math"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/store"
)

// Anomaly detection (see the package doc, "Anomalies").
const (
	// Window is how long one StatsWindow counts attempts.
	Window = 5 * time.Minute
	// KeepWindows is how many windows a backend keeps: 12 hours, the
	// baseline.
	KeepWindows = 144
	// RecentWindows is how many of the last windows make "now": 15
	// minutes, compared with the windows before them.
	RecentWindows = 3
	// MinBaselineBlocks is how many blocks of earlier windows (Judge) a
	// signal needs before it is judged.
	MinBaselineBlocks = 6
	// StartScore and EndScore are the robust z-scores at which an anomaly
	// starts and ends (hysteresis: a value hovering at the threshold does
	// not start and end it every round).
	StartScore = 4.0
	EndScore   = 2.0
	// StaleAfter is how long a backend may go without attempts before its
	// anomalies end as stale: a drained or unused backend is not judged,
	// and must not stay anomalous (and page) for ever.
	StaleAfter = time.Hour
)

// The signals.
const (
	SignalLatency      = "latency"       // geometric mean generation time of the successes, seconds
	SignalErrorRate    = "error_rate"    // failures over attempts
	SignalCostAccuracy = "cost_accuracy" // mean actual cost over estimate of the successes
)

// Signals lists the signals in the order they are judged.
var Signals = []string{SignalLatency, SignalErrorRate, SignalCostAccuracy}

// signalRule is how one signal is read from windows and judged.
type signalRule struct {
	name string
	// count is a window's samples of the signal (attempts, or successes)
	// and value its value over them.
	count func(w store.StatsWindow) int
	value func(w store.StatsWindow) float64
	// minRecent is the samples the recent windows need together.
	minRecent int
	// floor is the least spread assumed, given the baseline's median and
	// the recent samples: what sampling noise alone would explain.
	floor func(median float64, n int) float64
	// material reports whether value differs enough from the baseline to
	// matter to anyone, whatever the score (both as shown).
	material func(value, baseline float64) bool
	twoSided bool // cost accuracy is anomalous both ways; the others only when worse
	// show turns the signal into what events show (latency: seconds).
	show func(v float64) float64
}

func successes(w store.StatsWindow) int { return w.Successes }
func identity(v float64) float64        { return v }

var rules = []signalRule{
	{
		name: SignalLatency, minRecent: 10, count: successes,
		value:    func(w store.StatsWindow) float64 { return w.LogGen / float64(max(w.Successes, 1)) },
		floor:    func(float64, int) float64 { return 0.05 }, // ln: 5%
		material: func(v, b float64) bool { return v >= 1.5*b },
		show:     math.Exp,
	},
	{
		// The error rate is judged through Anscombe's transform of the
		// failures k of n attempts, asin(√((k+3/8)/(n+3/4))), whose noise
		// is about normal with a standard deviation of 1/(2√n) whatever the
		// rate, even none: a z-score on the raw rate would call the long
		// tail of a 3% rate, or any failure after a run of none, an anomaly.
		name: SignalErrorRate, minRecent: 20,
		count: func(w store.StatsWindow) int { return w.Successes + w.Failures },
		value: func(w store.StatsWindow) float64 {
			return math.Asin(math.Sqrt((float64(w.Failures) + 3.0/8) / (float64(w.Successes+w.Failures) + 3.0/4)))
		},
		floor:    func(_ float64, n int) float64 { return 1 / (2 * math.Sqrt(float64(max(n, 1)))) },
		material: func(v, b float64) bool { return v-b >= 0.05 },
		show:     func(v float64) float64 { s := math.Sin(v); return s * s },
	},
	{
		name: SignalCostAccuracy, minRecent: 10, count: successes, twoSided: true,
		value:    func(w store.StatsWindow) float64 { return w.CostRatio / float64(max(w.Successes, 1)) },
		floor:    func(float64, int) float64 { return 0.01 },
		material: func(v, b float64) bool { return math.Abs(v-b) >= 0.1 },
		show:     identity,
	},
}

// foldWindow counts o in its window of st, keeping KeepWindows windows
// before the newest.
func foldWindow(st *store.BackendStats, o Observation) {
	start := o.At.Truncate(Window)
	if n := len(st.Windows); n > 0 && start.Before(st.Windows[n-1].Start.Add(-KeepWindows*Window)) {
		return // older than anything kept
	}
	i, found := slices.BinarySearchFunc(st.Windows, start, func(w store.StatsWindow, t time.Time) int { return w.Start.Compare(t) })
	if !found {
		st.Windows = slices.Insert(st.Windows, i, store.StatsWindow{Start: start})
	}
	w := &st.Windows[i]
	switch o.Outcome {
	case Success:
		w.Successes++
		w.LogGen += math.Log(max(o.Generation.Seconds(), 0.001))
		w.CostRatio += o.CostRatio
	case Failure:
		w.Failures++
	}
	newest := st.Windows[len(st.Windows)-1].Start
	drop := 0
	for drop < len(st.Windows) && st.Windows[drop].Start.Before(newest.Add(-KeepWindows*Window)) {
		drop++
	}
	st.Windows = st.Windows[drop:]
}

// Change is an anomaly that started or ended.
type Change struct {
	Backend string
	Started bool // false: ended
	Stale   bool // ended without a judgement: no attempts for StaleAfter
	store.Anomaly
	Samples int // recent samples that said so
}

// Judgement is what Detect found of one signal.
type Judgement struct {
	Signal   string
	Judged   bool // enough samples, recent and baseline
	Value    float64
	Baseline float64
	Score    float64 // robust z-score; positive when worse
	Samples  int
}

// Judge computes each signal's robust score for st at now: the recent
// windows (those of the last RecentWindows·Window) summed, against the
// earlier windows cut into blocks of as many samples (consecutive windows
// summed until they hold as many), by the median of the blocks' values
// and their median absolute deviation (times 1.4826, the standard
// deviation of normal noise): blocks of the recent sample's size spread
// as its sampling noise does, and a few bad blocks move neither figure.
func Judge(st *store.BackendStats, now time.Time) []Judgement {
	from := now.Truncate(Window).Add(-(RecentWindows - 1) * Window)
	var recent store.StatsWindow
	var base []store.StatsWindow
	for _, w := range st.Windows {
		if w.Start.Before(from) {
			base = append(base, w)
			continue
		}
		recent = sum(recent, w)
	}
	out := make([]Judgement, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.judge(recent, base))
	}
	return out
}

func sum(a, b store.StatsWindow) store.StatsWindow {
	a.Successes += b.Successes
	a.Failures += b.Failures
	a.LogGen += b.LogGen
	a.CostRatio += b.CostRatio
	return a
}

func (r signalRule) judge(recent store.StatsWindow, base []store.StatsWindow) Judgement {
	n := r.count(recent)
	j := Judgement{Signal: r.name, Samples: n}
	if n < r.minRecent {
		return j
	}
	var vals []float64
	var block store.StatsWindow
	for _, w := range base {
		if block = sum(block, w); r.count(block) >= n {
			vals = append(vals, r.value(block))
			block = store.StatsWindow{}
		}
	}
	if len(vals) < MinBaselineBlocks {
		return j
	}
	v, m := r.value(recent), median(vals)
	for i, x := range vals {
		vals[i] = math.Abs(x - m)
	}
	spread := max(1.4826*median(vals), r.floor(m, n))
	j.Judged, j.Value, j.Baseline, j.Score = true, r.show(v), r.show(m), (v-m)/spread
	if r.twoSided {
		j.Score = math.Abs(j.Score)
	}
	if !r.material(j.Value, j.Baseline) {
		j.Score = min(j.Score, EndScore-0.01) // not worth anyone's attention
	}
	return j
}

// median returns the median of xs (sorting them).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Detect judges st's signals at now (Judge) and updates st.Anomalies: a
// signal judged with a score of StartScore or more starts an anomaly, one
// judged under EndScore ends it; a signal without enough samples keeps its
// state, unless the backend had no attempt at all for StaleAfter, which
// ends every anomaly it has as stale. It returns the changes, in the order
// of Signals.
func Detect(st *store.BackendStats, now time.Time) []Change {
	var out []Change
	if stale(st, now) {
		for _, a := range st.Anomalies {
			out = append(out, Change{Backend: st.Backend, Stale: true, Anomaly: a})
		}
		st.Anomalies = nil
		return out
	}
	for _, j := range Judge(st, now) {
		if !j.Judged {
			continue
		}
		i := slices.IndexFunc(st.Anomalies, func(a store.Anomaly) bool { return a.Signal == j.Signal })
		switch {
		case i < 0 && j.Score >= StartScore:
			a := store.Anomaly{Signal: j.Signal, Since: now, Value: j.Value, Baseline: j.Baseline, Score: j.Score}
			st.Anomalies = append(st.Anomalies, a)
			out = append(out, Change{Backend: st.Backend, Started: true, Anomaly: a, Samples: j.Samples})
		case i >= 0 && j.Score < EndScore:
			a := st.Anomalies[i]
			a.Value, a.Baseline, a.Score = j.Value, j.Baseline, j.Score
			st.Anomalies = slices.Delete(st.Anomalies, i, i+1)
			out = append(out, Change{Backend: st.Backend, Anomaly: a, Samples: j.Samples})
		}
	}
	return out
}

// stale reports whether st has anomalies and no attempt in its windows
// since now − StaleAfter.
func stale(st *store.BackendStats, now time.Time) bool {
	if len(st.Anomalies) == 0 {
		return false
	}
	n := len(st.Windows)
	return n == 0 || !st.Windows[n-1].Start.Add(Window).After(now.Add(-StaleAfter))
}
