package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/store"
)

// Fixed rejection reasons (capability, budget and circuit reasons carry
// details and are not constants).
const (
	ReasonNotInAllowList = "not in allow-list"
	ReasonExcluded       = "excluded after failure"
	ReasonDisabled       = "disabled"
	ReasonUnknown        = "unknown backend (not in the catalog)"
	ReasonProbeInFlight  = "circuit half-open: probe in flight"
)

// BackendStats are what the router knows of a backend for the job at hand:
// its learned figures for the job's shape (package learn) and its load.
type BackendStats struct {
	learn.Figures
	Load
}

// Load is a backend's work as the router last saw it (refreshed every few
// seconds, plus what the router dispatched since).
type Load struct {
	InUse  int // concurrency slots held: generations running
	Queued int // jobs dispatched to it and not running yet
}

// Input is everything a routing decision depends on. Only Request and
// Catalog are required.
type Input struct {
	Request job.Request
	Catalog *catalog.Catalog
	// Health is the stored state of backends by name; absent means enabled
	// with a closed circuit.
	Health map[string]store.BackendState
	// Excluded are backends that already failed this job.
	Excluded []string
	// Retryable are excluded backends that refused this job without taking
	// it on (job.Attempt.RetryAt): when no other backend is left they are
	// candidates again, marked Retry.
	Retryable []string
	Now       time.Time
	Circuit   circuit.Config
	// Stats are the backends' figures for the request's shape and their
	// load; a backend absent is ranked on Prior's figures with no load.
	Stats map[string]BackendStats
	// Prior gives the figures of a backend absent from Stats; zero:
	// learn.DefaultPrior.
	Prior learn.Prior
	// Elapsed is how long ago the job was accepted: its deadline counts
	// from then.
	Elapsed time.Duration
	// Explore, when its Share is set, may send the job to a candidate
	// whose figures are stale (see the package doc, "Exploration").
	Explore Exploration
}

// Exploration is the share of traffic that keeps figures fresh and the
// job's draw.
type Exploration struct {
	// Share is the probability that a job explores (at most MaxExploreShare).
	Share float64
	// Draw is the job's uniform draw in [0, 1), the same for every routing
	// of the same attempt (a redelivery decides the same way): the job
	// explores when Draw < Share.
	Draw float64
}

// Candidate is a backend that may serve the request, with its quote.
type Candidate struct {
	catalog.Quote
	// Probe is set when the backend's circuit is due for its half-open
	// probe: the caller must acquire it (circuit.Breaker.Acquire, stored in
	// the same transaction as the dispatch) and skip the candidate when
	// another job got it first.
	Probe bool
	// Retry is set on a backend that refused this job before and is
	// tried again because no other backend is left (Input.Retryable).
	Retry bool
	// Explore is set on a candidate moved first to refresh its figures
	// (Input.Explore).
	Explore bool
	// Late is set when the backend is expected to miss the job's deadline.
	Late bool
	// The figures it was ranked by (see the package doc, "Ranking"):
	// Success is its learned success probability; Score the expected cost
	// per successful video of trying it first, in micro-USD; Wait the
	// expected wait for one of its concurrency slots and Finish the
	// expected completion from now.
	Success float64
	Score   float64
	Wait    time.Duration
	Finish  time.Duration
	// Samples and Stale: how many attempts its figures rest on, and
	// whether they are stale (exploration's candidates).
	Samples float64
	Stale   bool
}

// Decision is the outcome of Decide.
type Decision struct {
	// Candidates are ranked best first (see the package doc).
	Candidates []Candidate
	// Deadline is the time left to the job's deadline when it was ranked,
	// and DefaultDeadline says it is the tier's default, not the
	// request's.
	Deadline        time.Duration
	DefaultDeadline bool
	// rejected are the removed backends in the order removed; their
	// reasons are built when asked for (Rejected, Explain), since a job
	// that finds a candidate never shows them.
	rejected []rejection
}

// Best returns the first candidate, if any.
func (d Decision) Best() (Candidate, bool) {
	if len(d.Candidates) == 0 {
		return Candidate{}, false
	}
	return d.Candidates[0], true
}

// Reject removes backend name from the candidates (if there) and records
// why. Callers use it when a probe candidate was taken by another job.
func (d *Decision) Reject(name, reason string) {
	d.Candidates = slices.DeleteFunc(d.Candidates, func(c Candidate) bool { return c.Backend == name })
	d.reject(rejection{backend: name, reason: reason})
}

// Clone returns a copy of d that can be changed without changing d.
func (d Decision) Clone() Decision {
	return Decision{Candidates: slices.Clone(d.Candidates), rejected: slices.Clone(d.rejected)}
}

// Explain describes the decision for people. With no candidate it is the
// message of a no_backend failure: "no backend can serve this request: " then
// "name: reason" for each rejected backend, sorted by name, joined by "; ".
// With candidates it names them in rank order, then the rejected ones.
func (d Decision) Explain() string {
	reasons := d.Rejected()
	names := make([]string, 0, len(reasons))
	for n := range reasons {
		names = append(names, n)
	}
	slices.Sort(names)
	rejected := make([]string, len(names))
	for i, n := range names {
		rejected[i] = n + ": " + reasons[n]
	}
	if len(d.Candidates) == 0 {
		if len(rejected) == 0 {
			return "no backend can serve this request: the catalog has no backends"
		}
		return "no backend can serve this request: " + strings.Join(rejected, "; ")
	}
	cands := make([]string, len(d.Candidates))
	for i, c := range d.Candidates {
		cands[i] = fmt.Sprintf("%s (%s, %s)", c.Backend, c.Model, c.Estimate)
		if c.Probe {
			cands[i] += " [probe]"
		}
		if c.Retry {
			cands[i] += " [retry]"
		}
	}
	s := "candidates: " + strings.Join(cands, ", ")
	if len(rejected) > 0 {
		s += "; rejected: " + strings.Join(rejected, "; ")
	}
	return s
}

// Decide applies the filters of the package doc to every backend of
// in.Catalog and ranks the remaining candidates. It is pure and safe for
// concurrent use.
func Decide(in Input) Decision {
	d := decide(in, in.Excluded)
	if len(d.Candidates) > 0 || len(in.Retryable) == 0 {
		return d
	}
	// Last resort: the backends that refused without taking the job on.
	excluded := slices.DeleteFunc(slices.Clone(in.Excluded), func(n string) bool { return slices.Contains(in.Retryable, n) })
	r := decide(in, excluded)
	if len(r.Candidates) == 0 {
		return d // they are unfit for other reasons now: explain as excluded
	}
	for i := range r.Candidates {
		r.Candidates[i].Retry = true
	}
	return r
}

func decide(in Input, excluded []string) Decision {
	var d Decision
	if in.Catalog == nil {
		return d
	}
	allow := in.Request.Backends
	for _, name := range allow {
		if in.Catalog.Backend(name) == nil {
			d.reject(rejection{backend: name, reason: ReasonUnknown})
		}
	}
	d.Deadline, d.DefaultDeadline = deadlineOf(&in)
	prior := in.Prior
	if prior.Weight == 0 {
		prior = learn.DefaultPrior
	}
	// The candidates are collected with what ranks them, read once each,
	// and their keys sorted: all on the stack for a catalog of up to 16
	// backends; the decision's slice is its one allocation.
	var candBuf [16]Candidate
	var figBuf [16]figures
	cands, figs := candBuf[:0], figBuf[:0]
	for i := range in.Catalog.Backends {
		b := &in.Catalog.Backends[i]
		cands = append(cands, Candidate{})
		c := &cands[len(cands)-1]
		if r, ok := filter(&in, b, excluded, c); !ok {
			cands = cands[:len(cands)-1]
			d.reject(r)
			continue
		}
		s, known := in.Stats[b.Name]
		if !known {
			s.Figures = prior.Figures()
		}
		figs = append(figs, figuresOf(c, b, &s, in.Now))
	}
	var keyBuf [16]rankKey
	keys := score(cands, figs, d.Deadline, keyBuf[:0])
	sortKeys(keys)
	d.Candidates = make([]Candidate, len(keys))
	for i, k := range keys {
		d.Candidates[i] = cands[k.i]
	}
	explore(&d, in.Explore)
	return d
}

// filter runs the filters of the package doc on backend b: it makes its
// candidate in c and returns true, or returns the rejection that removes
// it and false.
func filter(in *Input, b *catalog.Backend, excluded []string, c *Candidate) (rejection, bool) {
	switch {
	case len(in.Request.Backends) > 0 && !slices.Contains(in.Request.Backends, b.Name):
		return rejection{backend: b.Name, reason: ReasonNotInAllowList}, false
	case slices.Contains(excluded, b.Name):
		return rejection{backend: b.Name, reason: ReasonExcluded}, false
	}
	health := in.Health[b.Name]
	if health.Disabled {
		return rejection{backend: b.Name, reason: ReasonDisabled}, false
	}
	q, ok := b.Cheapest(&in.Request)
	if !ok {
		return rejection{backend: b.Name, reason: b.Refusal(&in.Request)}, false
	}
	if limit := in.Request.MaxCostUSD; limit != nil && q.Estimate > *limit {
		return overMaxCost(b.Name, q.Estimate, *limit), false
	}
	switch health.Breaker.Peek(in.Now, in.Circuit) {
	case circuit.Deny:
		return circuitDenies(b.Name, health.Breaker, in.Now, in.Circuit), false
	case circuit.Probe:
		c.Probe = true
	}
	c.Quote = q
	return rejection{}, true
}

// rankKey is what ranks candidate i (see the package doc).
type rankKey struct {
	late    bool
	score   float64
	finish  time.Duration
	success float64
	latency time.Duration
	name    string
	i       int // catalog order among the candidates: the sort is stable
}

// sortKeys sorts keys best first by a stable insertion sort: a decision
// ranks a catalog's few backends (tens at most), for which this is quicker
// than slices.SortFunc's calls of a comparison function.
func sortKeys(keys []rankKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && compareKeys(keys[j], keys[j-1]) < 0; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

func compareKeys(a, b rankKey) int {
	if a.late != b.late {
		if b.late {
			return -1
		}
		return 1
	}
	if a.late { // both miss the deadline: the one that misses it least
		if c := cmp.Compare(a.finish, b.finish); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.score, b.score); c != 0 {
		return c
	}
	if c := cmp.Compare(b.success, a.success); c != 0 { // higher first
		return c
	}
	if c := cmp.Compare(a.latency, b.latency); c != 0 { // lower first
		return c
	}
	if c := cmp.Compare(a.name, b.name); c != 0 {
		return c
	}
	return cmp.Compare(a.i, b.i)
}
