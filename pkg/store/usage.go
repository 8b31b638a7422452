package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
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
// its ledger entries by backend and user (Cells), and by backend and job
// shape (Shapes). Its cells add up: a roll-up of more entries is the
// cell-wise sum.
type DayUsage struct {
	ProjectID string      `json:"project_id"`
	Day       string      `json:"day"`   // "2026-11-25"
	Cells     []UsageCell `json:"cells"` // sorted by backend, then user
	// Shapes is the same usage by backend and what the jobs asked for
	// (sorted by CompareShapeCells), for the savings recommendations:
	// only entries that carry a shape (LedgerEntry.Shape, written since
	// it exists) are in it.
	Shapes []ShapeCell `json:"shapes,omitempty"`
	// Entries counts the ledger entries rolled into the day.
	Entries   int       `json:"entries"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Shape is what a job asked for that decides which offers can serve it
// and at what price: the request without its prompt, image, options and
// routing limits. The zero Shape is unknown (an entry from before shapes
// were recorded).
type Shape struct {
	Tier        job.Tier        `json:"tier,omitempty"`
	Resolution  job.Resolution  `json:"resolution,omitempty"`
	AspectRatio job.AspectRatio `json:"aspect_ratio,omitempty"`
	Seconds     int             `json:"seconds,omitempty"` // requested duration
	Audio       bool            `json:"audio,omitempty"`
	// ImageScheme is the scheme of the request's image_url ("https",
	// "gs", "data"), lower case; "" for text-to-video.
	ImageScheme string `json:"image_scheme,omitempty"`
}

// ShapeOf returns the shape of r.
func ShapeOf(r *job.Request) Shape {
	s := Shape{Tier: r.QualityTier, Resolution: r.Resolution, AspectRatio: r.AspectRatio, Seconds: r.DurationSeconds, Audio: r.Audio}
	if r.ImageURL != "" {
		s.ImageScheme = "?" // an image URL without a scheme: not text-to-video
		if scheme, _, ok := strings.Cut(r.ImageURL, ":"); ok && scheme != "" {
			s.ImageScheme = strings.ToLower(scheme)
		}
	}
	return s
}

// Known reports whether s was recorded (its tier is set).
func (s Shape) Known() bool { return s.Tier != "" }

// Request returns a request of shape s, to price it on other offers (the
// image URL is its scheme and nothing else).
func (s Shape) Request() job.Request {
	r := job.Request{QualityTier: s.Tier, Resolution: s.Resolution, AspectRatio: s.AspectRatio, DurationSeconds: s.Seconds, Audio: s.Audio}
	if s.ImageScheme != "" {
		r.ImageURL = s.ImageScheme + ":"
	}
	return r
}

// compareShapes orders shapes field by field.
func compareShapes(a, b Shape) int {
	return cmp.Or(cmp.Compare(a.Tier.Rank(), b.Tier.Rank()), strings.Compare(string(a.Resolution), string(b.Resolution)),
		strings.Compare(string(a.AspectRatio), string(b.AspectRatio)), cmp.Compare(a.Seconds, b.Seconds),
		cmpBool(a.Audio, b.Audio), strings.Compare(a.ImageScheme, b.ImageScheme))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	default:
		return 1
	}
}

// ShapeCell is the usage of one backend by jobs of one shape on a day:
// the cost of their settled attempts, how many there were and how many
// succeeded.
type ShapeCell struct {
	Backend           string       `json:"backend"`
	Shape             Shape        `json:"shape"`
	Cost              money.Micros `json:"cost_usd"`
	Attempts          int          `json:"attempts"`
	AttemptsSucceeded int          `json:"attempts_succeeded"`
}

// CompareShapeCells orders shape cells by backend, then shape.
func CompareShapeCells(a, b ShapeCell) int {
	return cmp.Or(strings.Compare(a.Backend, b.Backend), compareShapes(a.Shape, b.Shape))
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
	d.Shapes = slices.Clone(d.Shapes)
	slices.SortFunc(d.Shapes, CompareShapeCells)
	d.UpdatedAt = NormalizeTime(d.UpdatedAt)
	return d
}

// ValidDay reports whether s is a UTC day as "yyyy-mm-dd".
func ValidDay(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s && t.Year() >= 2000
}
