package routesim

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/aiprod/aiprod/pkg/routing"
)

// Policies are the policies Run knows, in the order they are reported.
var Policies = []string{"aiprod", "cheapest", "round-robin", "shuffle", "inverse-price-squared", "oracle"}

// ShuffleCooldown is how long shuffle avoids a backend after a failure.
const ShuffleCooldown = 5.0

// policy decides where a job's next attempt goes.
type policy interface {
	name() string
	// choose picks the backend of j's next attempt at s.now, or false
	// when there is none.
	choose(s *sim, j *simJob) (routing.Candidate, bool)
	// ended is told of every attempt's end (at s.now).
	ended(s *sim, a *attempt)
}

func newPolicy(name string, seed uint64) (policy, error) {
	switch name {
	case "aiprod":
		return newAIPROD(seed), nil
	case "cheapest":
		return cheapest{}, nil
	case "round-robin":
		return &roundRobin{}, nil
	case "shuffle":
		return &shuffle{rng: rand.New(rand.NewPCG(seed, 1)), failedAt: map[string]float64{}}, nil
	case "inverse-price-squared":
		return &inversePrice{rng: rand.New(rand.NewPCG(seed, 2))}, nil
	case "oracle":
		return oracle{}, nil
	}
	return nil, fmt.Errorf("routesim: unknown policy %q (known: %v)", name, Policies)
}

// byName sorts candidates by backend name: the baselines' fixed order.
func byName(cs []routing.Candidate) []routing.Candidate {
	slices.SortFunc(cs, func(a, b routing.Candidate) int { return cmp.Compare(a.Backend, b.Backend) })
	return cs
}

// byPrice orders candidates by estimate, then name.
func byPrice(a, b routing.Candidate) int {
	return cmp.Or(cmp.Compare(a.Estimate, b.Estimate), cmp.Compare(a.Backend, b.Backend))
}

// cheapest sends every attempt to the cheapest capable backend, health
// aside (the failed ones of the job excluded, as by any router).
type cheapest struct{}

func (cheapest) name() string { return "cheapest" }
func (cheapest) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	cs := s.candidates(j)
	if len(cs) == 0 {
		return routing.Candidate{}, false
	}
	return slices.MinFunc(cs, byPrice), true
}
func (cheapest) ended(*sim, *attempt) {}

// roundRobin sends attempts to the capable backends in turn.
type roundRobin struct{ n int }

func (*roundRobin) name() string { return "round-robin" }
func (r *roundRobin) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	cs := byName(s.candidates(j))
	if len(cs) == 0 {
		return routing.Candidate{}, false
	}
	r.n++
	return cs[r.n%len(cs)], true
}
func (*roundRobin) ended(*sim, *attempt) {}

// shuffle picks a capable backend at random, avoiding for ShuffleCooldown
// the backends that just failed (when another is left).
type shuffle struct {
	rng      *rand.Rand
	failedAt map[string]float64
}

func (*shuffle) name() string { return "shuffle" }
func (p *shuffle) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	cs := byName(s.candidates(j))
	if len(cs) == 0 {
		return routing.Candidate{}, false
	}
	cool := slices.DeleteFunc(slices.Clone(cs), func(c routing.Candidate) bool {
		t, ok := p.failedAt[c.Backend]
		return ok && s.now-t < ShuffleCooldown
	})
	if len(cool) > 0 {
		cs = cool
	}
	return cs[p.rng.IntN(len(cs))], true
}
func (p *shuffle) ended(s *sim, a *attempt) {
	if !a.ok {
		p.failedAt[a.quote.Backend] = s.now
	}
}

// inversePrice picks a capable backend at random with weight 1/price².
type inversePrice struct{ rng *rand.Rand }

func (*inversePrice) name() string { return "inverse-price-squared" }
func (p *inversePrice) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	cs := byName(s.candidates(j))
	if len(cs) == 0 {
		return routing.Candidate{}, false
	}
	w := make([]float64, len(cs))
	var total float64
	for i, c := range cs {
		e := max(float64(c.Estimate)/1e6, 1e-6)
		w[i] = 1 / (e * e)
		total += w[i]
	}
	x := p.rng.Float64() * total
	for i := range cs {
		if x < w[i] {
			return cs[i], true
		}
		x -= w[i]
	}
	return cs[len(cs)-1], true
}
func (*inversePrice) ended(*sim, *attempt) {}

// oracle knows every outage, failure and generation time in advance: it
// sends each attempt to the cheapest backend where it will succeed in
// time (the job's deadline, or its tier's default, from arrival),
// counting exactly the wait for a slot behind the attempts already there;
// when none is in time, to the one where it succeeds first; when it fails
// everywhere, to the cheapest. Greedy, job by job, in arrival order.
type oracle struct{}

func (oracle) name() string { return "oracle" }
func (oracle) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	cs := s.candidates(j)
	if len(cs) == 0 {
		return routing.Candidate{}, false
	}
	slices.SortFunc(cs, byPrice)
	first, firstEnd := -1, 0.0
	for i, c := range cs {
		st := s.startIfSent(c.Backend)
		ok, _, end := s.outcome(j, c.Backend, st)
		if !ok {
			continue
		}
		if end-j.at <= j.deadline {
			return c, true
		}
		if first < 0 || end < firstEnd {
			first, firstEnd = i, end
		}
	}
	if first >= 0 {
		return cs[first], true
	}
	return cs[0], true
}
func (oracle) ended(*sim, *attempt) {}

// startIfSent is when an attempt sent to backend now would start: the
// attempts waiting there go first (FIFO), each taking the first slot that
// frees, and every duration is known in advance.
func (s *sim) startIfSent(backend string) float64 {
	b := s.backends[backend]
	if b.conc <= 0 {
		return s.now
	}
	free := make(floatHeap, 0, b.conc)
	for _, a := range b.running {
		free = append(free, a.end)
	}
	for len(free) < b.conc {
		free = append(free, s.now)
	}
	heap.Init(&free)
	for _, a := range b.queue {
		st := heap.Pop(&free).(float64)
		_, _, end := s.outcome(a.job, backend, st)
		heap.Push(&free, end)
	}
	return max(free[0], s.now)
}

type floatHeap []float64

func (h floatHeap) Len() int           { return len(h) }
func (h floatHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h floatHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *floatHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *floatHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
