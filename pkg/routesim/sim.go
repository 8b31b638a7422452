package routesim

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/routing"
)

// The pipeline's constants, as in the services.
const (
	// MaxAttempts is the attempts a job may have (router.MaxAttemptsDefault).
	MaxAttempts = 3
	// RerouteDelay is how long a failed attempt takes to come back to the
	// router (worker → aiprod-jobs → router).
	RerouteDelay = 1.0
	// RefusalDelay is how long a submit to a backend that is down takes to
	// fail (connection refused, 503).
	RefusalDelay = 1.0
)

// epoch is the simulated clock's time 0.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }

// simJob is a job of the trace in one run.
type simJob struct {
	idx      int
	req      job.Request
	at       float64 // arrival, s
	deadline float64 // s from arrival: the request's or the tier's default
	attempts int
	excluded []string
	done, ok bool
	end      float64
	cost     money.Micros
}

// attempt is one attempt of a job at a backend.
type attempt struct {
	job        *simJob
	n          int
	quote      catalog.Quote
	dispatched float64
	start, end float64
	ok         bool
	down       bool // refused: the backend was down
}

// backendState is a backend's slots and its queue of attempts waiting for one.
type backendState struct {
	name    string
	conc    int // 0: no cap
	running []*attempt
	queue   []*attempt
}

func (b *backendState) free() bool { return b.conc <= 0 || len(b.running) < b.conc }

// event is something that happens at a time: a job arrives (a set), a
// failed job comes back to routing (reroute), an attempt ends.
type event struct {
	t       float64
	seq     int
	arrive  *simJob
	reroute *simJob
	end     *attempt
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].t != e[j].t {
		return e[i].t < e[j].t
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// sim is one run of a trace under one policy: a discrete-event loop on a
// simulated clock, no goroutine and no sleep.
type sim struct {
	tr       *Trace
	seed     uint64
	pol      policy
	now      float64
	queue    events
	seq      int
	backends map[string]*backendState
	jobs     []*simJob
	ended    []*attempt // every attempt that ended, in order
}

func newSim(tr *Trace, seed uint64, pol policy) *sim {
	s := &sim{tr: tr, seed: seed, pol: pol, backends: map[string]*backendState{}}
	for _, b := range tr.Catalog.Backends {
		s.backends[b.Name] = &backendState{name: b.Name, conc: b.Concurrency}
	}
	for i, tj := range tr.Jobs {
		j := &simJob{idx: i, req: tj.Request, at: tj.AtS, deadline: deadlineOf(&tj.Request)}
		s.jobs = append(s.jobs, j)
		s.push(event{t: j.at, arrive: j})
	}
	return s
}

// deadlineOf is the job's deadline: its own or its tier's default, s.
func deadlineOf(r *job.Request) float64 {
	if r.DeadlineSeconds != nil {
		return float64(*r.DeadlineSeconds)
	}
	return routing.DefaultDeadline(r.QualityTier).Seconds()
}

func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.queue, e)
}

// run plays every event.
func (s *sim) run() {
	for s.queue.Len() > 0 {
		e := heap.Pop(&s.queue).(event)
		s.now = e.t
		switch {
		case e.arrive != nil:
			s.route(e.arrive)
		case e.reroute != nil:
			s.route(e.reroute)
		case e.end != nil:
			s.finish(e.end)
		}
	}
}

// candidates are the backends that can serve j's next attempt, as
// routing's filters say (allow-list, exclusions, capabilities,
// max_cost_usd), health aside.
func (s *sim) candidates(j *simJob) []routing.Candidate {
	d := routing.Decide(routing.Input{Request: j.req, Catalog: s.tr.Catalog, Excluded: j.excluded, Now: at(s.now)})
	return d.Candidates
}

// route sends j's next attempt where the policy says, or ends the job.
func (s *sim) route(j *simJob) {
	if j.attempts >= MaxAttempts {
		s.close(j, false)
		return
	}
	c, ok := s.pol.choose(s, j)
	if !ok {
		s.close(j, false) // no_backend
		return
	}
	j.attempts++
	a := &attempt{job: j, n: j.attempts, quote: c.Quote, dispatched: s.now}
	b := s.backends[c.Backend]
	if b.free() {
		s.start(b, a)
	} else {
		b.queue = append(b.queue, a)
	}
}

// start runs a at b from now: its outcome and end come from the trace's
// behaviour at this time and the job's draws (outcome).
func (s *sim) start(b *backendState, a *attempt) {
	a.start = s.now
	a.ok, a.down, a.end = s.outcome(a.job, b.name, s.now)
	b.running = append(b.running, a)
	s.push(event{t: a.end, end: a})
}

// outcome is what an attempt of j at backend started at t does: succeeds
// or not, refused because the backend is down, and when it ends. Every
// policy draws the same numbers for the same job and backend (common
// random numbers), and the oracle reads them in advance.
func (s *sim) outcome(j *simJob, backend string, t float64) (ok, down bool, end float64) {
	w := s.tr.behavior(backend, t)
	if w.Down {
		return false, true, t + RefusalDelay
	}
	g := lognormal(w.P50S, w.P95S, s.draw(j.idx, backend, "gen"))
	if s.draw(j.idx, backend, "fail") < w.ErrorRate {
		return false, false, t + g/2 // a generation that fails, fails halfway
	}
	return true, false, t + g
}

// finish ends attempt a: its slot goes to the next attempt waiting, the
// policy learns of it, and the job succeeds or goes back to routing.
func (s *sim) finish(a *attempt) {
	b := s.backends[a.quote.Backend]
	b.running = slices.DeleteFunc(b.running, func(x *attempt) bool { return x == a })
	if len(b.queue) > 0 && b.free() {
		next := b.queue[0]
		b.queue = b.queue[1:]
		s.start(b, next)
	}
	s.ended = append(s.ended, a)
	s.pol.ended(s, a)
	j := a.job
	if a.ok {
		j.cost += a.quote.Estimate
		s.close(j, true)
		return
	}
	j.excluded = append(j.excluded, a.quote.Backend)
	s.push(event{t: s.now + RerouteDelay, reroute: j})
}

func (s *sim) close(j *simJob, ok bool) {
	j.done, j.ok, j.end = true, ok, s.now
}

// draw is a uniform number in (0, 1) fixed by the seed, the job, the
// backend and what it is for.
func (s *sim) draw(jobIdx int, backend, what string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strconv.FormatUint(s.seed, 10) + "/" + strconv.Itoa(jobIdx) + "/" + backend + "/" + what))
	x := splitmix(h.Sum64())
	return (float64(x>>11) + 0.5) / (1 << 53)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// lognormal is the q-quantile of the log-normal distribution with median
// p50 and 95th percentile p95.
func lognormal(p50, p95, q float64) float64 {
	sigma := math.Log(p95/p50) / 1.6448536269514722
	z := math.Sqrt2 * math.Erfinv(2*q-1)
	return p50 * math.Exp(sigma*z)
}

// check reports an unfinished job: the loop ended with work left, a bug.
func (s *sim) check() error {
	for _, j := range s.jobs {
		if !j.done {
			return fmt.Errorf("routesim: policy %s: job %d never finished", s.pol.name(), j.idx)
		}
	}
	return nil
}
