package routesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
)

// Trace is a workload to replay (DESIGN "Economics"): a catalog, how each
// backend behaves over time, and the jobs with their arrival times.
type Trace struct {
	Catalog  *catalog.Catalog `json:"-"`
	Behavior []Window         `json:"behavior"`
	Jobs     []TraceJob       `json:"jobs"`
}

// Window is how a backend behaves from FromS to ToS (seconds of the trace).
// A backend with no window at a time is up, with no errors, p50 30 s and
// p95 60 s (DefaultP50, DefaultP95).
type Window struct {
	Backend   string  `json:"backend"`
	FromS     float64 `json:"from_s"`
	ToS       float64 `json:"to_s"`
	ErrorRate float64 `json:"error_rate"`
	Down      bool    `json:"down"`
	P50S      float64 `json:"p50_s"`
	P95S      float64 `json:"p95_s"`
}

// TraceJob is one job of a trace: its arrival and its request.
type TraceJob struct {
	AtS     float64     `json:"at_s"`
	Request job.Request `json:"request"`
}

// Default generation times of a backend with no behaviour window.
const (
	DefaultP50 = 30.0
	DefaultP95 = 60.0
)

// ReadTrace reads and parses the trace file at path.
func ReadTrace(path string) (*Trace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTrace(b)
}

// ParseTrace parses a trace: its catalog is validated as a catalog file,
// its requests as job requests (defaults applied), its windows checked;
// jobs are sorted by arrival.
func ParseTrace(b []byte) (*Trace, error) {
	var raw struct {
		Catalog  json.RawMessage `json:"catalog"`
		Behavior []Window        `json:"behavior"`
		Jobs     []struct {
			AtS     float64         `json:"at_s"`
			Request json.RawMessage `json:"request"`
		} `json:"jobs"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if len(raw.Catalog) == 0 {
		return nil, errors.New("trace: catalog is required")
	}
	cat, err := catalog.Parse(raw.Catalog)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	t := &Trace{Catalog: cat, Behavior: raw.Behavior}
	for i, w := range raw.Behavior {
		switch {
		case cat.Backend(w.Backend) == nil:
			return nil, fmt.Errorf("trace: behavior %d: backend %q is not in the catalog", i, w.Backend)
		case w.ToS <= w.FromS:
			return nil, fmt.Errorf("trace: behavior %d: to_s must be after from_s", i)
		case w.ErrorRate < 0 || w.ErrorRate > 1:
			return nil, fmt.Errorf("trace: behavior %d: error_rate must be from 0 to 1", i)
		case w.P50S < 0 || w.P95S < 0 || (w.P50S > 0 && w.P95S > 0 && w.P95S < w.P50S):
			return nil, fmt.Errorf("trace: behavior %d: p50_s and p95_s must be positive, p95 ≥ p50", i)
		}
	}
	for i, j := range raw.Jobs {
		req, err := job.ParseRequest(j.Request)
		if err != nil {
			return nil, fmt.Errorf("trace: job %d: %w", i, err)
		}
		if j.AtS < 0 || math.IsNaN(j.AtS) {
			return nil, fmt.Errorf("trace: job %d: at_s must be ≥ 0", i)
		}
		t.Jobs = append(t.Jobs, TraceJob{AtS: j.AtS, Request: req})
	}
	slices.SortStableFunc(t.Jobs, func(a, b TraceJob) int { return cmpFloat(a.AtS, b.AtS) })
	return t, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// behavior is how backend behaves at time s: the last window that covers
// s, else the defaults.
func (t *Trace) behavior(backend string, s float64) Window {
	w := Window{Backend: backend, P50S: DefaultP50, P95S: DefaultP95}
	for _, x := range t.Behavior {
		if x.Backend == backend && x.FromS <= s && s < x.ToS {
			w = x
			if w.P50S <= 0 {
				w.P50S = DefaultP50
			}
			if w.P95S <= 0 {
				w.P95S = max(DefaultP95, w.P50S)
			}
		}
	}
	return w
}
