package routing

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/money"
)

// Default deadlines of jobs that set none, by tier (see the package doc,
// "Deadlines").
const (
	DraftDeadlineDefault    = 15 * time.Minute
	StandardDeadlineDefault = 30 * time.Minute
	PremiumDeadlineDefault  = time.Hour
)

// DefaultDeadline is the deadline of a job of tier t that sets none.
func DefaultDeadline(t job.Tier) time.Duration {
	switch t {
	case job.TierDraft:
		return DraftDeadlineDefault
	case job.TierPremium:
		return PremiumDeadlineDefault
	}
	return StandardDeadlineDefault
}

// Exploration's bounds (see the package doc, "Exploration").
const (
	// ExploreShareDefault is the share of jobs that may explore.
	ExploreShareDefault = 0.01
	// MaxExploreShare caps Exploration.Share.
	MaxExploreShare = 0.02
	// ExploreMaxPremium bounds what exploring may cost: a candidate whose
	// expected cost per success is more than this fraction above the
	// best's is never explored.
	ExploreMaxPremium = 0.5
	// ExploreMinSamples and ExploreStaleAfter say when figures are stale:
	// resting on fewer attempts, or none settled for that long.
	ExploreMinSamples = 20
	ExploreStaleAfter = time.Hour
)

// WithLoad returns Input.Stats from the figures of each backend (for the
// job's shape) and its load: as last read, plus the jobs dispatched to it
// since.
func WithLoad(figs map[string]learn.Figures, load map[string]Load, since map[string]int) map[string]BackendStats {
	out := make(map[string]BackendStats, len(figs))
	for name, f := range figs {
		l := load[name]
		l.Queued += since[name]
		out[name] = BackendStats{Figures: f, Load: l}
	}
	return out
}

// deadlineOf returns the time left to in's job's deadline, and whether it
// is the tier's default.
func deadlineOf(in *Input) (time.Duration, bool) {
	if d := in.Request.DeadlineSeconds; d != nil {
		return time.Duration(*d)*time.Second - in.Elapsed, false
	}
	return DefaultDeadline(in.Request.QualityTier) - in.Elapsed, true
}

// figures are a candidate's numbers before the failover is considered, in
// micro-USD and durations.
type figures struct {
	success float64
	cost    float64       // expected actual cost of a success
	fail    float64       // expected billed cost of a failure
	alone   float64       // expected cost per success retrying it alone: cost + fail·(1−p)/p
	own     time.Duration // wait for a slot + p95 generation
	p50     time.Duration
}

// figuresOf sets c's figures from s, b being its catalog entry, and
// returns what ranking needs.
func figuresOf(c *Candidate, b *catalog.Backend, s *BackendStats, now time.Time) figures {
	p := min(max(s.Success, 0.001), 1)
	est := float64(c.Estimate)
	f := figures{success: p, cost: est * max(s.CostAccuracy, 0), fail: est * max(s.FailCost, 0), p50: s.P50}
	f.alone = f.cost + f.fail*(1-p)/p
	c.Success, c.Samples = p, s.Samples
	c.Wait = slotWait(b.Concurrency, s.Load, s.Mean)
	f.own = c.Wait + s.P95
	c.Stale = s.Samples < ExploreMinSamples || s.At.IsZero() || now.Sub(s.At) > ExploreStaleAfter
	return f
}

// slotWait is the expected wait for one of concurrency slots (0: no cap)
// with load ahead, each generation taking mean on average: the jobs ahead
// of a free slot, over the slots' throughput.
func slotWait(concurrency int, l Load, mean time.Duration) time.Duration {
	ahead := l.InUse + l.Queued + 1 - concurrency
	if concurrency <= 0 || ahead <= 0 {
		return 0
	}
	return time.Duration(float64(ahead) * float64(mean) / float64(concurrency))
}

// score fills each candidate's Score, Finish and Late, failing over to the
// best other candidate, and appends their rank keys to keys.
func score(cands []Candidate, figs []figures, deadline time.Duration, keys []rankKey) []rankKey {
	// The best two of each kind: a candidate's failover is the best of
	// the others.
	costs, finishes := newBestTwo(), newBestTwo()
	for i, f := range figs {
		costs.add(i, f.alone)
		finishes.add(i, float64(f.own))
	}
	for i := range cands {
		c, f := &cands[i], figs[i]
		q := 1 - f.success
		c.Score = f.success*f.cost + q*(f.fail+costs.other(i, f.alone))
		c.Finish = f.own + time.Duration(q*finishes.other(i, float64(f.own)))
		c.Late = c.Finish > deadline
		keys = append(keys, rankKey{late: c.Late, score: c.Score, finish: c.Finish, success: f.success,
			latency: f.p50, name: c.Backend, i: i})
	}
	return keys
}

// bestTwo keeps the two lowest values seen and whose they are.
type bestTwo struct {
	i, j int
	a, b float64
}

func newBestTwo() bestTwo { return bestTwo{i: -1, j: -1} }

func (t *bestTwo) add(k int, v float64) {
	switch {
	case t.i < 0 || v < t.a:
		t.j, t.b = t.i, t.a
		t.i, t.a = k, v
	case t.j < 0 || v < t.b:
		t.j, t.b = k, v
	}
}

// other is the lowest value of a candidate other than k; own when k is
// alone.
func (t *bestTwo) other(k int, own float64) float64 {
	switch {
	case t.i >= 0 && t.i != k:
		return t.a
	case t.j >= 0:
		return t.b
	}
	return own
}

// explore moves a stale candidate first when the job's draw says so (see
// the package doc, "Exploration").
func explore(d *Decision, e Exploration) {
	share := min(e.Share, MaxExploreShare)
	if share <= 0 || e.Draw >= share || len(d.Candidates) < 2 || d.Candidates[0].Late || d.Candidates[0].Stale {
		return
	}
	eligible := func(c *Candidate) bool {
		return c.Stale && !c.Late && !c.Probe && !c.Retry && c.Score <= d.Candidates[0].Score*(1+ExploreMaxPremium)
	}
	n := 0
	for i := 1; i < len(d.Candidates); i++ {
		if eligible(&d.Candidates[i]) {
			n++
		}
	}
	if n == 0 {
		return
	}
	pick := min(int(e.Draw/share*float64(n)), n-1)
	for i := 1; i < len(d.Candidates); i++ {
		if !eligible(&d.Candidates[i]) {
			continue
		}
		if pick > 0 {
			pick--
			continue
		}
		c := d.Candidates[i]
		c.Explore = true
		copy(d.Candidates[1:i+1], d.Candidates[:i])
		d.Candidates[0] = c
		return
	}
}

// Ranking describes, for the job's timeline, how the candidates were
// ranked: the deadline, then each candidate in rank order with its
// expected cost per successful video, success probability, expected wait
// for a slot and completion, and the samples its figures rest on; which
// are expected to miss the deadline, and which is explored.
// appendCandidate writes c as "%s %s (success %.1f%%, wait %s, done in
// %s, %.0f samples)" of its backend, score, success, wait, finish and
// samples, without fmt: the ranking is in every dispatched event.
func appendCandidate(b *strings.Builder, c *Candidate) {
	var num [32]byte
	b.WriteString(c.Backend)
	b.WriteByte(' ')
	b.WriteString(money.Micros(math.Round(c.Score)).String())
	b.WriteString(" (success ")
	b.Write(strconv.AppendFloat(num[:0], 100*c.Success, 'f', 1, 64))
	b.WriteString("%, wait ")
	b.WriteString(c.Wait.Round(time.Second).String())
	b.WriteString(", done in ")
	b.WriteString(c.Finish.Round(time.Second).String())
	b.WriteString(", ")
	b.Write(strconv.AppendFloat(num[:0], c.Samples, 'f', 0, 64))
	b.WriteString(" samples)")
}

func (d Decision) Ranking() string {
	var b strings.Builder
	b.WriteString("ranked by expected cost per successful video; deadline in ")
	b.WriteString(d.Deadline.Round(time.Second).String())
	if d.DefaultDeadline {
		b.WriteString(" (the tier's default)")
	}
	b.WriteString(": ")
	for i, c := range d.Candidates {
		if i > 0 {
			b.WriteString(", ")
		}
		appendCandidate(&b, &c)
		switch {
		case c.Explore:
			b.WriteString(" [explore: stale figures]")
		case c.Late:
			b.WriteString(" [would miss the deadline]")
		}
	}
	return b.String()
}
