package routing

import (
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/money"
)

// rejection is a backend removed by a filter, with what its reason is made
// of. Reasons with details (an open circuit, an estimate over the job's
// limit) are built only when asked for: most decisions find a candidate,
// and then no reason is ever shown.
type rejection struct {
	backend string
	kind    rejectionKind
	reason  string // kind plain: the reason

	// kind circuitOpen
	failures  int
	lastError string
	wait      time.Duration // until the probe; ≤ 0 when due

	// kind overMax
	estimate, limit money.Micros
}

type rejectionKind uint8

const (
	plain rejectionKind = iota
	circuitOpen
	overMax
)

// overMaxCost rejects backend whose estimate is over the job's limit.
func overMaxCost(backend string, estimate, limit money.Micros) rejection {
	return rejection{backend: backend, kind: overMax, estimate: estimate, limit: limit}
}

// circuitDenies rejects backend whose breaker b denies the job at now.
func circuitDenies(backend string, b circuit.Breaker, now time.Time, cfg circuit.Config) rejection {
	if b.Current() == circuit.HalfOpen {
		return rejection{backend: backend, reason: ReasonProbeInFlight}
	}
	cfg = cfg.WithDefaults()
	return rejection{backend: backend, kind: circuitOpen, failures: b.ConsecutiveFailures,
		lastError: b.LastError, wait: b.OpenedAt.Add(cfg.Cooldown).Sub(now)}
}

// text is the reason shown for r.
func (r rejection) text() string {
	switch r.kind {
	case overMax:
		return "estimate " + r.estimate.String() + " over max_cost_usd " + r.limit.String()
	case circuitOpen:
		s := "circuit open (" + strconv.Itoa(r.failures) + " consecutive failures"
		if r.lastError != "" {
			s += "; last error: " + r.lastError
		}
		if r.wait > 0 {
			s += "; probe in " + r.wait.Round(time.Second).String()
		}
		return s + ")"
	}
	return r.reason
}

// reject records r; it replaces an earlier rejection of the same backend.
func (d *Decision) reject(r rejection) {
	for i := range d.rejected {
		if d.rejected[i].backend == r.backend {
			d.rejected[i] = r
			return
		}
	}
	if d.rejected == nil {
		d.rejected = make([]rejection, 0, 4) // a few, in most decisions
	}
	d.rejected = append(d.rejected, r)
}

// Rejected maps each removed backend to the filter that removed it and why.
// The map is built on each call (reasons are made only when asked for) and
// belongs to the caller; it is empty, not nil, when no backend was removed.
func (d Decision) Rejected() map[string]string {
	m := make(map[string]string, len(d.rejected))
	for _, r := range d.rejected {
		m[r.backend] = r.text()
	}
	return m
}
