package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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
	// Rejected maps each removed backend to the filter that removed it and
	// why; nil when none was (a decision makes no map it does not need).
	Rejected map[string]string
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
	if d.Rejected == nil {
		d.Rejected = map[string]string{}
	}
	d.Rejected[name] = reason
}

// Clone returns a copy of d that can be changed without changing d.
func (d Decision) Clone() Decision {
	c := Decision{Candidates: slices.Clone(d.Candidates), Rejected: make(map[string]string, len(d.Rejected))}
	for k, v := range d.Rejected {
		c.Rejected[k] = v
	}
	return c
}

// Explain describes the decision for people. With no candidate it is the
// message of a no_backend failure: "no backend can serve this request: " then
// "name: reason" for each rejected backend, sorted by name, joined by "; ".
// With candidates it names them in rank order, then the rejected ones.
func (d Decision) Explain() string {
	names := make([]string, 0, len(d.Rejected))
	for n := range d.Rejected {
		names = append(names, n)
	}
	slices.Sort(names)
	rejected := make([]string, len(names))
	for i, n := range names {
		rejected[i] = n + ": " + d.Rejected[n]
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
			d.reject(name, ReasonUnknown)
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
		c, why := filter(&in, b, excluded)
		if why != "" {
			d.reject(b.Name, why)
			continue
		}
		s, ok := in.Stats[b.Name]
		keys = append(keys, rankKey{estimate: c.Estimate, success: successKey(s, ok), latency: latencyKey(s, ok), name: b.Name, i: len(cands)})
		cands = append(cands, c)
	}
	slices.SortFunc(keys, compareKeys)
	d.Candidates = make([]Candidate, len(keys))
	for i, k := range keys {
		d.Candidates[i] = cands[k.i]
	}
	return d
}

// reject records why backend name was removed; a later reason for the
// same name replaces an earlier one.
func (d *Decision) reject(name, reason string) {
	if d.Rejected == nil {
		d.Rejected = make(map[string]string, 8)
	}
	d.Rejected[name] = reason
}

// filter runs the filters of the package doc on backend b: the candidate
// it makes, or the reason that removes it.
func filter(in *Input, b *catalog.Backend, excluded []string) (Candidate, string) {
	health := in.Health[b.Name]
	switch {
	case len(in.Request.Backends) > 0 && !slices.Contains(in.Request.Backends, b.Name):
		return Candidate{}, ReasonNotInAllowList
	case slices.Contains(excluded, b.Name):
		return Candidate{}, ReasonExcluded
	case health.Disabled:
		return Candidate{}, ReasonDisabled
	}
	q, ok := b.Cheapest(&in.Request)
	if !ok {
		return Candidate{}, b.Refusal(&in.Request)
	}
	if limit := in.Request.MaxCostUSD; limit != nil && q.Estimate > *limit {
		return Candidate{}, "estimate " + q.Estimate.String() + " over max_cost_usd " + limit.String()
	}
	switch health.Breaker.Peek(in.Now, in.Circuit) {
	case circuit.Deny:
		return Candidate{}, circuitReason(health.Breaker, in.Now, in.Circuit)
	case circuit.Probe:
		return Candidate{Quote: q, Probe: true}, ""
	}
	return Candidate{Quote: q}, ""
}

// rankKey is what ranks candidate i (see the package doc).
type rankKey struct {
	estimate money.Micros
	success  float64
	latency  time.Duration
	name     string
	i        int // catalog order among the candidates: the sort is stable
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

func circuitReason(b circuit.Breaker, now time.Time, cfg circuit.Config) string {
	if b.Current() == circuit.HalfOpen {
		return ReasonProbeInFlight
	}
	cfg = cfg.WithDefaults()
	buf := make([]byte, 0, 128)
	buf = append(buf, "circuit open ("...)
	buf = strconv.AppendInt(buf, int64(b.ConsecutiveFailures), 10)
	buf = append(buf, " consecutive failures"...)
	if b.LastError != "" {
		buf = append(append(buf, "; last error: "...), b.LastError...)
	}
	if wait := b.OpenedAt.Add(cfg.Cooldown).Sub(now); wait > 0 {
		buf = append(append(buf, "; probe in "...), wait.Round(time.Second).String()...)
	}
	return string(append(buf, ')'))
}
