package routesim

import (
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/store"
)

// What AIPROD's services do on their own clocks, on the simulated one.
var (
	// RollInterval and RollLag are the usage roller's (budget.Roller):
	// attempts are learned from a minute at a time, two minutes late.
	RollInterval = 60.0
	RollLag      = 120.0
	// LoadInterval is how often the router reads the backends' load.
	LoadInterval = router.LoadTTLDefault.Seconds()
)

// aiprod is AIPROD's routing: routing.Decide with the circuit breakers
// the workers keep (package circuit), the figures the usage roller learns
// (package learn, folded RollInterval at a time, RollLag late), the load
// the router reads every LoadInterval plus its own dispatches since, and
// exploration.
type aiprod struct {
	seed    uint64
	circuit circuit.Config
	health  map[string]store.BackendState
	learned map[string]store.BackendStats
	byShape map[string]map[string]learn.Figures // of learned, cleared at each roll
	pending []learn.Observation                 // settled, not rolled up yet
	rolled  float64                             // time of the last roll-up
	loadAt  float64
	load    map[string]routing.Load
	local   map[string]int
}

func newAIPROD(seed uint64) *aiprod {
	return &aiprod{seed: seed, circuit: circuit.Config{}.WithDefaults(), health: map[string]store.BackendState{},
		learned: map[string]store.BackendStats{}, byShape: map[string]map[string]learn.Figures{},
		load: map[string]routing.Load{}, local: map[string]int{}, loadAt: -LoadInterval}
}

func (*aiprod) name() string { return "aiprod" }

func (p *aiprod) choose(s *sim, j *simJob) (routing.Candidate, bool) {
	p.roll(s.now)
	p.readLoad(s)
	now := at(s.now)
	d := routing.Decide(routing.Input{
		Request: j.req, Catalog: s.tr.Catalog, Health: p.health, Excluded: j.excluded, Now: now, Circuit: p.circuit,
		Stats: p.stats(s, learn.RequestShape(&j.req).Key()), Elapsed: time.Duration((s.now - j.at) * float64(time.Second)),
		Explore: routing.Exploration{Share: routing.ExploreShareDefault, Draw: s.draw(j.idx, "", "explore#"+strconv.Itoa(j.attempts+1))},
	})
	for _, c := range d.Candidates { // as the router's choose: a probe only when free
		if c.Probe {
			b := p.health[c.Backend]
			nb, dec := b.Breaker.Acquire(now, p.circuit)
			if dec == circuit.Deny {
				continue
			}
			b.Breaker = nb
			p.health[c.Backend] = b
		}
		p.local[c.Backend]++
		return c, true
	}
	return routing.Candidate{}, false
}

// ended is the worker's part: the circuit, and the ledger entry the roller
// will learn from.
func (p *aiprod) ended(s *sim, a *attempt) {
	b := p.health[a.quote.Backend]
	o := learn.Observation{Backend: a.quote.Backend, Shape: learn.RequestShape(&a.job.req).Key(), CostRatio: 1, At: at(s.now)}
	if a.ok {
		b.Breaker = b.Breaker.Success()
		o.Outcome, o.Generation = learn.Success, time.Duration((a.end-a.start)*float64(time.Second))
	} else {
		b.Breaker = b.Breaker.Failure(at(s.now), "simulated failure", p.circuit)
		o.Outcome, o.CostRatio = learn.Failure, 0
	}
	p.health[a.quote.Backend] = b
	p.pending = append(p.pending, o)
}

// roll folds what settled RollLag ago or more, every RollInterval.
func (p *aiprod) roll(now float64) {
	if now-p.rolled < RollInterval {
		return
	}
	p.rolled = now
	cut := at(now - RollLag)
	keep := p.pending[:0]
	for _, o := range p.pending {
		if o.At.After(cut) {
			keep = append(keep, o)
			continue
		}
		st := p.learned[o.Backend]
		st.Backend = o.Backend
		learn.Fold(&st, o)
		p.learned[o.Backend] = st
	}
	p.pending = keep
	clear(p.byShape)
}

// readLoad reads every backend's load (slots in use, attempts waiting)
// every LoadInterval, as the router does, and forgets its own dispatches.
func (p *aiprod) readLoad(s *sim) {
	if s.now-p.loadAt < LoadInterval {
		return
	}
	p.loadAt = s.now
	for name, b := range s.backends {
		p.load[name] = routing.Load{InUse: len(b.running), Queued: len(b.queue)}
	}
	clear(p.local)
}

// stats are the routing figures of every backend for shape, with load.
func (p *aiprod) stats(s *sim, shape string) map[string]routing.BackendStats {
	figs, ok := p.byShape[shape]
	if !ok {
		figs = learn.EstimateAll(s.tr.Catalog.Names(), p.learned, shape, at(s.now), learn.DefaultPrior)
		p.byShape[shape] = figs
	}
	return routing.WithLoad(figs, p.load, p.local)
}
