package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// LearnedTx is the part of a transaction that reads and writes what was
// learned of each backend from its settled attempts (package learn). The
// usage roller folds each round's ledger entries into them, in the round's
// transaction, so no settlement writes a shared document. Tx embeds it.
//
// Firestore model: backend_stats/{backend}, one document per backend with
// a cell per job shape (at most MaxStatsCells; under 1 KB each).
type LearnedTx interface {
	// GetBackendStats reads a backend's learned figures; absent is the
	// zero BackendStats with Backend set, never NotFound.
	GetBackendStats(backend string) (BackendStats, error)
	// PutBackendStats replaces them; s must pass Check.
	PutBackendStats(s BackendStats) error
}

// LearnedReader is the part of Store that reads the learned figures, for
// the routers' cache and GET /v1/backends.
type LearnedReader interface {
	// ListBackendStats returns every backend's learned figures that were
	// ever written, by backend name.
	ListBackendStats(ctx context.Context) ([]BackendStats, error)
}

// MaxStatsCells bounds the shapes one backend's document holds (3 tiers,
// 4 resolutions, 4 duration buckets, text or image: 96 shapes exist), so
// the document stays far under Firestore's 1 MiB.
const MaxStatsCells = 128

// BackendStats is what was learned of one backend from its settled
// attempts: a cell per job shape. Its numbers are exponentially decayed
// sums (package learn says how), so they add up and merge exactly.
type BackendStats struct {
	Backend string      `json:"backend"`
	Cells   []StatsCell `json:"cells"` // sorted by Shape
	// UpdatedAt is when a roll-up last folded entries in.
	UpdatedAt time.Time `json:"updated_at"`
	// Windows count the backend's recent attempts over every shape in
	// fixed windows (package learn's Window), oldest first, not decayed:
	// what anomaly detection compares the last minutes with.
	Windows []StatsWindow `json:"windows"`
	// Anomalies are the backend's signals found anomalous and not yet
	// back to normal, by signal.
	Anomalies []Anomaly `json:"anomalies"`
}

// MaxStatsWindows bounds BackendStats.Windows (package learn keeps 12
// hours of 5-minute windows).
const MaxStatsWindows = 288

// StatsWindow counts the attempts a backend settled in one window.
type StatsWindow struct {
	Start     time.Time `json:"start"`
	Successes int       `json:"successes"`
	Failures  int       `json:"failures"`
	// LogGen sums the natural logarithm of the successes' generation
	// times in seconds (their geometric mean is exp(LogGen/Successes)).
	LogGen float64 `json:"log_gen"`
	// CostRatio sums the successes' actual cost over estimate.
	CostRatio float64 `json:"cost_ratio"`
}

// Anomaly is a signal of a backend found anomalous (package learn,
// Detect): since when, and the figures that said so when it started.
type Anomaly struct {
	Signal   string    `json:"signal"` // latency, error_rate or cost_accuracy
	Since    time.Time `json:"since"`
	Value    float64   `json:"value"`
	Baseline float64   `json:"baseline"`
	Score    float64   `json:"score"`
}

// StatsCell is what was learned of one backend for one job shape (a key
// of package learn: "standard/720p/5s/t2v"). Every amount is a decayed sum
// as of At, the settlement time of the latest entry folded in.
type StatsCell struct {
	Shape     string  `json:"shape"`
	Successes float64 `json:"successes"`
	Failures  float64 `json:"failures"`
	// Latency is a histogram of the successes' generation times (submit to
	// result) over package learn's fixed buckets; GenSeconds their sum.
	Latency    []float64 `json:"latency"`
	GenSeconds float64   `json:"gen_seconds"`
	// CostRatio sums actual cost over estimate of the successes.
	CostRatio float64 `json:"cost_ratio"`
	// FailCostRatio sums what failed attempts were billed over their
	// estimate.
	FailCostRatio float64   `json:"fail_cost_ratio"`
	At            time.Time `json:"at"`
}

// Check returns an errclass.Permanent error unless s can be stored.
func (s BackendStats) Check() error {
	if len(s.Cells) > MaxStatsCells {
		return errclass.New(errclass.Permanent, "backend stats of %s: %d cells, at most %d", s.Backend, len(s.Cells), MaxStatsCells)
	}
	for i, c := range s.Cells {
		if c.Shape == "" || (i > 0 && s.Cells[i-1].Shape >= c.Shape) {
			return errclass.New(errclass.Permanent, "backend stats of %s: cells must have shapes, sorted and distinct", s.Backend)
		}
	}
	if len(s.Windows) > MaxStatsWindows {
		return errclass.New(errclass.Permanent, "backend stats of %s: %d windows, at most %d", s.Backend, len(s.Windows), MaxStatsWindows)
	}
	for i, w := range s.Windows {
		if i > 0 && !s.Windows[i-1].Start.Before(w.Start) {
			return errclass.New(errclass.Permanent, "backend stats of %s: windows must be sorted by start and distinct", s.Backend)
		}
	}
	return nil
}

// CloneBackendStats returns a deep copy of s, times normalised.
func CloneBackendStats(s BackendStats) BackendStats {
	c := s
	c.UpdatedAt = NormalizeTime(s.UpdatedAt)
	c.Cells = make([]StatsCell, len(s.Cells))
	for i, cell := range s.Cells {
		cell.Latency = slices.Clone(cell.Latency)
		cell.At = NormalizeTime(cell.At)
		c.Cells[i] = cell
	}
	c.Windows = make([]StatsWindow, len(s.Windows))
	for i, w := range s.Windows {
		w.Start = NormalizeTime(w.Start)
		c.Windows[i] = w
	}
	c.Anomalies = make([]Anomaly, len(s.Anomalies))
	for i, a := range s.Anomalies {
		a.Since = NormalizeTime(a.Since)
		c.Anomalies[i] = a
	}
	return c
}

// SortBackendStats sorts a listing by backend name.
func SortBackendStats(list []BackendStats) {
	slices.SortFunc(list, func(a, b BackendStats) int { return strings.Compare(a.Backend, b.Backend) })
}
