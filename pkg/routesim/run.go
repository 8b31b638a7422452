package routesim

import (
	"math"
	"slices"

	"github.com/aiprod/aiprod/pkg/money"
)

// Options tune a run.
type Options struct {
	// Policies to run, by name (Policies); nil: all of them.
	Policies []string
	// Seed fixes the draws (failures, generation times, the random
	// policies' choices); 0 is seed 1.
	Seed uint64
}

// Report is the outcome of a run: one PolicyResult per policy, in the
// order asked. Its JSON is DESIGN's `aiprod simulate --json`.
type Report struct {
	Policies []PolicyResult `json:"policies"`
}

// PolicyResult is what one policy did with the trace.
type PolicyResult struct {
	Name              string  `json:"name"`
	Jobs              int     `json:"jobs"`
	Succeeded         int     `json:"succeeded"`
	Failed            int     `json:"failed"`
	CostUSD           float64 `json:"cost_usd"`
	CostPerSuccessUSD float64 `json:"cost_per_success_usd"`
	// P95CompletionS is the 95th percentile of the succeeded jobs'
	// completion times, arrival to result.
	P95CompletionS float64 `json:"p95_completion_s"`
	// Outcomes are the jobs, in trace order (not in the JSON).
	Outcomes []Outcome `json:"-"`
}

// Outcome is what became of one job of the trace.
type Outcome struct {
	AtS, EndS float64 // arrival and end, s
	Succeeded bool
	Cost      money.Micros
	Attempts  int
	// Backend is where its last attempt ran.
	Backend string
	// Deadline is the job's deadline_seconds (0 without one).
	Deadline float64
}

// Run replays tr under each policy of opt and reports.
func Run(tr *Trace, opt Options) (Report, error) {
	names := opt.Policies
	if names == nil {
		names = Policies
	}
	seed := max(opt.Seed, 1)
	var r Report
	for _, name := range names {
		pol, err := newPolicy(name, seed)
		if err != nil {
			return Report{}, err
		}
		s := newSim(tr, seed, pol)
		s.run()
		if err := s.check(); err != nil {
			return Report{}, err
		}
		r.Policies = append(r.Policies, s.result())
	}
	return r, nil
}

func (s *sim) result() PolicyResult {
	r := PolicyResult{Name: s.pol.name(), Jobs: len(s.jobs)}
	last := map[*simJob]string{}
	for _, a := range s.ended {
		last[a.job] = a.quote.Backend
	}
	var cost money.Micros
	var times []float64
	for _, j := range s.jobs {
		o := Outcome{AtS: j.at, EndS: j.end, Succeeded: j.ok, Cost: j.cost, Attempts: j.attempts, Backend: last[j]}
		if j.req.DeadlineSeconds != nil {
			o.Deadline = float64(*j.req.DeadlineSeconds)
		}
		r.Outcomes = append(r.Outcomes, o)
		cost += j.cost
		if j.ok {
			r.Succeeded++
			times = append(times, j.end-j.at)
		} else {
			r.Failed++
		}
	}
	r.CostUSD = float64(cost) / 1e6
	if r.Succeeded > 0 {
		r.CostPerSuccessUSD = round6(float64(cost) / 1e6 / float64(r.Succeeded))
	}
	r.P95CompletionS = math.Round(Percentile(times, 0.95)*10) / 10
	return r
}

// Percentile is the nearest-rank q-quantile of xs (0 when empty).
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
