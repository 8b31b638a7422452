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
	"github.com/aiprod/aiprod/pkg/money"
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

// BackendStats are a backend's measured performance, used to break ties.
type BackendStats struct {
	SuccessRate float64       // 0..1
	P50Latency  time.Duration // median time from submit to result; 0 = unknown
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
	// Stats, optional, break ties between equal estimates.
	Stats map[string]BackendStats
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
}

// Decision is the outcome of Decide.
type Decision struct {
	// Candidates are ranked best first (see the package doc).
	Candidates []Candidate
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
	// The candidates are collected with their ranking keys, read once
	// each (a comparison would read the stats map twice), and the keys
	// sorted: both on the stack for a catalog of up to 16 backends.
	var candBuf [16]Candidate
	var keyBuf [16]rankKey
	cands, keys := candBuf[:0], keyBuf[:0]
	for i := range in.Catalog.Backends {
		b := &in.Catalog.Backends[i]
		c, r, ok := filter(&in, b, excluded)
		if !ok {
			d.reject(r)
			continue
		}
		s, ok := in.Stats[b.Name]
		keys = append(keys, rankKey{estimate: c.Estimate, success: successKey(s, ok), latency: latencyKey(s, ok), name: b.Name, i: len(cands)})
		cands = append(cands, c)
	}
	sortKeys(keys)
	d.Candidates = make([]Candidate, len(keys))
	for i, k := range keys {
		d.Candidates[i] = cands[k.i]
	}
	return d
}

// filter runs the filters of the package doc on backend b: the candidate
// it makes and true, or the rejection that removes it and false.
func filter(in *Input, b *catalog.Backend, excluded []string) (Candidate, rejection, bool) {
	switch {
	case len(in.Request.Backends) > 0 && !slices.Contains(in.Request.Backends, b.Name):
		return Candidate{}, rejection{backend: b.Name, reason: ReasonNotInAllowList}, false
	case slices.Contains(excluded, b.Name):
		return Candidate{}, rejection{backend: b.Name, reason: ReasonExcluded}, false
	}
	health := in.Health[b.Name]
	if health.Disabled {
		return Candidate{}, rejection{backend: b.Name, reason: ReasonDisabled}, false
	}
	q, ok := b.Cheapest(&in.Request)
	if !ok {
		return Candidate{}, rejection{backend: b.Name, reason: b.Refusal(&in.Request)}, false
	}
	if limit := in.Request.MaxCostUSD; limit != nil && q.Estimate > *limit {
		return Candidate{}, overMaxCost(b.Name, q.Estimate, *limit), false
	}
	switch health.Breaker.Peek(in.Now, in.Circuit) {
	case circuit.Deny:
		return Candidate{}, circuitDenies(b.Name, health.Breaker, in.Now, in.Circuit), false
	case circuit.Probe:
		return Candidate{Quote: q, Probe: true}, rejection{}, true
	}
	return Candidate{Quote: q}, rejection{}, true
}

// rankKey is what ranks candidate i (see the package doc).
type rankKey struct {
	estimate money.Micros
	success  float64
	latency  time.Duration
	name     string
	i        int // catalog order among the candidates: the sort is stable
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
	if c := cmp.Compare(a.estimate, b.estimate); c != 0 {
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

// successKey orders unknown success rates below every measured one.
func successKey(s BackendStats, ok bool) float64 {
	if !ok {
		return -1
	}
	return s.SuccessRate
}

// latencyKey orders unknown latencies after every measured one.
func latencyKey(s BackendStats, ok bool) time.Duration {
	if !ok || s.P50Latency <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return s.P50Latency
}
