package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
)

// UsageTx is the usage part of a transaction: the daily roll-ups of the
// cost ledger that GET /v1/usage reads instead of the ledger itself
// (package budget, Roller). It is embedded in Tx.
//
// Firestore model:
//
//	projects/{project}/usage/{yyyy-mm-dd}     DayUsage (its first 1,000 cells)
//	projects/{project}/usage/{yyyy-mm-dd}~{n} DayUsage's further cells, n = 1, 2, ...
//	rollups/usage                             the watermark: every ledger entry
//	                                          settled before it is rolled up
type UsageTx interface {
	// GetDayUsage reads a project's roll-up of one UTC day ("2026-11-25");
	// absent means the zero DayUsage with ProjectID and Day set.
	GetDayUsage(projectID, day string) (DayUsage, error)
	// PutDayUsage writes a project's roll-up of one day, replacing it.
	PutDayUsage(d DayUsage) error
	// GetUsageWatermark reads the time before which every ledger entry
	// (by LedgerEntry.At) is in the roll-ups; zero when nothing is.
	GetUsageWatermark() (time.Time, error)
	// PutUsageWatermark writes it.
	PutUsageWatermark(t time.Time) error
}

// UsageReader is the usage part of Store, for the API and the roller.
type UsageReader interface {
	// ListDayUsage returns a project's roll-ups of the days in [fromDay,
	// toDay), by day; days without one are absent.
	ListDayUsage(ctx context.Context, projectID, fromDay, toDay string) ([]DayUsage, error)
	// GetUsageWatermark reads the roll-up watermark (zero when none).
	GetUsageWatermark(ctx context.Context) (time.Time, error)
	// ListSettled returns the ledger entries of every project settled in
	// [from, to) (LedgerEntry.At; a zero from has no lower bound), ordered
	// by At, then ID, at most limit of them.
	ListSettled(ctx context.Context, from, to time.Time, limit int) ([]LedgerEntry, error)
}

// DayUsage is the settled usage of one project on one UTC day, summed from
// its ledger entries by backend and user. Its cells add up: a roll-up of
// more entries is the cell-wise sum.
type DayUsage struct {
	ProjectID string      `json:"project_id"`
	Day       string      `json:"day"`   // "2026-11-25"
	Cells     []UsageCell `json:"cells"` // sorted by backend, then user
	// Entries counts the ledger entries rolled into the day.
	Entries   int       `json:"entries"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UsageCell is the usage of one backend for one user of a project on one
// day. Attempts count ledger entries (every settled attempt); Jobs count
// the entries that ended their job (LedgerEntry.Final), by its outcome.
type UsageCell struct {
	Backend           string       `json:"backend"`
	UserID            string       `json:"user_id,omitempty"`
	Cost              money.Micros `json:"cost_usd"`
	Attempts          int          `json:"attempts"`
	AttemptsSucceeded int          `json:"attempts_succeeded"`
	AttemptsFailed    int          `json:"attempts_failed"`
	Jobs              int          `json:"jobs"`
	JobsSucceeded     int          `json:"jobs_succeeded"`
	JobsFailed        int          `json:"jobs_failed"`
}

// CompareCells orders cells by backend, then user.
func CompareCells(a, b UsageCell) int {
	return cmp.Or(strings.Compare(a.Backend, b.Backend), strings.Compare(a.UserID, b.UserID))
}

// CloneDayUsage returns a deep copy of d with its cells sorted and its
// time normalised.
func CloneDayUsage(d DayUsage) DayUsage {
	d.Cells = slices.Clone(d.Cells)
	slices.SortFunc(d.Cells, CompareCells)
	d.UpdatedAt = NormalizeTime(d.UpdatedAt)
	return d
}

// ValidDay reports whether s is a UTC day as "yyyy-mm-dd".
func ValidDay(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s && t.Year() >= 2000
}
