package learn

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// HalfLife is how long an observation takes to count half as much: a
// backend that changes shows it within a day, not a month.
const HalfLife = 24 * time.Hour

// MinLatencySamples is how many successes a histogram needs before its
// quantiles are used.
const MinLatencySamples = 5

// Shape is a job's shape: what its figures are kept by.
type Shape struct {
	Tier         job.Tier
	Resolution   job.Resolution
	Seconds      int // duration bucket: 5, 10, 20 or 60
	ImageToVideo bool
}

// ShapeOf returns the shape of a job of tier and resolution, seconds long.
func ShapeOf(tier job.Tier, res job.Resolution, seconds int, imageToVideo bool) Shape {
	b := 60
	switch {
	case seconds <= 5:
		b = 5
	case seconds <= 10:
		b = 10
	case seconds <= 20:
		b = 20
	}
	return Shape{Tier: tier, Resolution: res, Seconds: b, ImageToVideo: imageToVideo}
}

// RequestShape returns the shape of request r (its defaults applied).
func RequestShape(r *job.Request) Shape {
	return ShapeOf(r.QualityTier, r.Resolution, r.DurationSeconds, r.ImageToVideo())
}

// Key is the shape as stored: "standard/720p/5s/t2v".
func (s Shape) Key() string {
	mode := "t2v"
	if s.ImageToVideo {
		mode = "i2v"
	}
	var secs string
	switch s.Seconds {
	case 5:
		secs = "5s"
	case 10:
		secs = "10s"
	case 20:
		secs = "20s"
	default:
		secs = "60s"
	}
	return string(s.Tier) + "/" + string(s.Resolution) + "/" + secs + "/" + mode
}

// Outcome is what an attempt counts as.
type Outcome uint8

// The outcomes.
const (
	Ignored Outcome = iota // not the backend's doing: not counted
	Success
	Failure
)

// Observation is one settled attempt, as learned from.
type Observation struct {
	Backend    string
	Shape      string // Shape.Key
	Outcome    Outcome
	Generation time.Duration // a success's submit to result
	// CostRatio is the attempt's cost over its estimate (1 when it had
	// none): on a success, how accurate the estimate was; on a failure,
	// how much of it was billed.
	CostRatio float64
	At        time.Time
}

// notTheBackends are attempt error codes that say nothing of the backend.
var notTheBackends = []string{job.CodeContentRejected, job.CodeInvalidRequest, job.CodeCanceled}

// FromEntry returns what ledger entry e teaches (see the package doc,
// "Counting"); Outcome Ignored when nothing. Entries written before the
// ledger recorded shapes are ignored.
func FromEntry(e store.LedgerEntry) Observation {
	o := Observation{Backend: e.Backend, At: e.At, CostRatio: 1}
	if !e.Shape.Known() || e.Backend == "" {
		return o
	}
	o.Shape = ShapeOf(e.Shape.Tier, e.Shape.Resolution, e.Shape.Seconds, e.Shape.ImageScheme != "").Key()
	if e.Estimate > 0 {
		o.CostRatio = float64(e.Cost) / float64(e.Estimate)
	}
	switch {
	case e.Status == job.AttemptSucceeded:
		o.Outcome, o.Generation = Success, e.Generation
	case e.Status == job.AttemptFailed && !slices.Contains(notTheBackends, e.ErrorCode):
		o.Outcome = Failure
	}
	return o
}

// Fold adds o to st (o.Backend's stats), in the cell of its shape; an
// Ignored observation changes nothing.
func Fold(st *store.BackendStats, o Observation) {
	if o.Outcome == Ignored || o.Shape == "" {
		return
	}
	foldWindow(st, o)
	i, found := slices.BinarySearchFunc(st.Cells, o.Shape, func(c store.StatsCell, s string) int { return strings.Compare(c.Shape, s) })
	if !found {
		st.Cells = slices.Insert(st.Cells, i, store.StatsCell{Shape: o.Shape, Latency: make([]float64, Buckets), At: o.At})
	}
	c := &st.Cells[i]
	if len(c.Latency) != Buckets {
		c.Latency = resize(c.Latency)
	}
	w := 1.0
	if o.At.After(c.At) {
		scale(c, decay(o.At.Sub(c.At)))
		c.At = o.At
	} else {
		w = decay(c.At.Sub(o.At)) // an observation older than the cell's time
	}
	switch o.Outcome {
	case Success:
		c.Successes += w
		c.Latency[bucketOf(o.Generation)] += w
		c.GenSeconds += w * o.Generation.Seconds()
		c.CostRatio += w * o.CostRatio
	case Failure:
		c.Failures += w
		c.FailCostRatio += w * o.CostRatio
	}
}

// decay is the weight left after d: 2^(−d/HalfLife).
func decay(d time.Duration) float64 {
	if d <= 0 {
		return 1
	}
	return math.Exp2(-d.Seconds() / HalfLife.Seconds())
}

// scale multiplies every sum of c by f.
func scale(c *store.StatsCell, f float64) {
	if f == 1 {
		return
	}
	c.Successes *= f
	c.Failures *= f
	c.GenSeconds *= f
	c.CostRatio *= f
	c.FailCostRatio *= f
	for i := range c.Latency {
		c.Latency[i] *= f
	}
}

// resize returns a histogram of Buckets buckets holding h's counts (a
// stored histogram of another length, which this version never writes).
func resize(h []float64) []float64 {
	out := make([]float64, Buckets)
	for i, v := range h {
		out[min(i, Buckets-1)] += v
	}
	return out
}

// Merge returns the sum of cells decayed to at, with shape "": a backend's
// cell over every shape.
func Merge(cells []store.StatsCell, at time.Time) store.StatsCell {
	m := store.StatsCell{Latency: make([]float64, Buckets), At: at}
	for _, c := range cells {
		f := decay(at.Sub(c.At))
		m.Successes += f * c.Successes
		m.Failures += f * c.Failures
		m.GenSeconds += f * c.GenSeconds
		m.CostRatio += f * c.CostRatio
		m.FailCostRatio += f * c.FailCostRatio
		for i, v := range c.Latency {
			m.Latency[min(i, Buckets-1)] += f * v
		}
	}
	return m
}
