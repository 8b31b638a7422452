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
	// MinBaselineWindows is how many earlier windows with enough samples
	// a signal needs before it is judged.
	MinBaselineWindows = 6
	// StartScore and EndScore are the robust z-scores at which an anomaly
	// starts and ends (hysteresis: a value hovering at the threshold does
	// not start and end it every round).
	StartScore = 4.0
	EndScore   = 2.0
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
	// value returns the signal of a window (or of several summed) and
	// whether it holds at least min samples.
	value func(w store.StatsWindow, min int) (float64, bool)
	// minWindow and minRecent are the samples a baseline window and the
	// recent windows together need.
	minWindow, minRecent int
	// floor is the least spread assumed, given the recent samples and the
	// baseline's median: what sampling noise alone would explain.
	floor func(median float64, n int) float64
	// material reports whether value differs enough from the baseline to
	// matter to anyone, whatever the score.
	material func(value, baseline float64) bool
	twoSided bool // cost accuracy is anomalous both ways; the others only when worse
	// show turns the signal into what events show (latency: seconds).
	show func(v float64) float64
}

var rules = []signalRule{
	{
		name: SignalLatency, minWindow: 3, minRecent: 10,
		value: func(w store.StatsWindow, min int) (float64, bool) {
			return w.LogGen / float64(max(w.Successes, 1)), w.Successes >= min
		},
		floor:    func(float64, int) float64 { return 0.1 }, // ln: 10%
		material: func(v, b float64) bool { return v-b >= math.Log(1.5) },
		show:     math.Exp,
	},
	{
		name: SignalErrorRate, minWindow: 5, minRecent: 20,
		value: func(w store.StatsWindow, min int) (float64, bool) {
			n := w.Successes + w.Failures
			return float64(w.Failures) / float64(max(n, 1)), n >= min
		},
		floor: func(m float64, n int) float64 {
			p := min(max(m, 0.02), 0.98)
			return math.Sqrt(p * (1 - p) / float64(max(n, 1)))
		},
		material: func(v, b float64) bool { return v-b >= 0.05 },
		show:     func(v float64) float64 { return v },
	},
	{
		name: SignalCostAccuracy, minWindow: 3, minRecent: 10, twoSided: true,
		value: func(w store.StatsWindow, min int) (float64, bool) {
			return w.CostRatio / float64(max(w.Successes, 1)), w.Successes >= min
		},
		floor:    func(float64, int) float64 { return 0.02 },
		material: func(v, b float64) bool { return math.Abs(v-b) >= 0.1 },
		show:     func(v float64) float64 { return v },
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
// median and the median absolute deviation of the earlier windows.
func Judge(st *store.BackendStats, now time.Time) []Judgement {
	from := now.Truncate(Window).Add(-(RecentWindows - 1) * Window)
	var recent store.StatsWindow
	var base []store.StatsWindow
	for _, w := range st.Windows {
		if w.Start.Before(from) {
			base = append(base, w)
			continue
		}
		recent.Successes += w.Successes
		recent.Failures += w.Failures
		recent.LogGen += w.LogGen
		recent.CostRatio += w.CostRatio
	}
	out := make([]Judgement, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.judge(recent, base))
	}
	return out
}

func (r signalRule) judge(recent store.StatsWindow, base []store.StatsWindow) Judgement {
	j := Judgement{Signal: r.name, Samples: recent.Successes}
	if r.name == SignalErrorRate {
		j.Samples += recent.Failures
	}
	v, ok := r.value(recent, r.minRecent)
	if !ok {
		return j
	}
	vals := make([]float64, 0, len(base))
	for _, w := range base {
		if x, ok := r.value(w, r.minWindow); ok {
			vals = append(vals, x)
		}
	}
	if len(vals) < MinBaselineWindows {
		return j
	}
	m := median(vals)
	for i, x := range vals {
		vals[i] = math.Abs(x - m)
	}
	spread := max(1.4826*median(vals), r.floor(m, j.Samples))
	j.Judged, j.Value, j.Baseline, j.Score = true, r.show(v), r.show(m), (v-m)/spread
	if r.twoSided {
		j.Score = math.Abs(j.Score)
	}
	if !r.material(v, m) {
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
// state. It returns the changes, in the order of Signals.
func Detect(st *store.BackendStats, now time.Time) []Change {
	var out []Change
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
