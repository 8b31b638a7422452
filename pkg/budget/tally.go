package budget

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Tally sums settled usage by project, UTC day, backend and user: the
// additive form of usage that the daily roll-ups keep (store.DayUsage).
// Adding ledger entries one by one or adding the roll-ups of those entries
// gives the same tally, so a range of usage is its rolled-up days plus the
// entries not rolled up yet.
type Tally struct {
	cells   map[tallyKey]*store.UsageCell
	shapes  map[shapeKey]*store.ShapeCell
	entries map[dayOf]int
}

type dayOf struct{ project, day string }

type tallyKey struct {
	dayOf
	backend, user string
}

type shapeKey struct {
	dayOf
	backend string
	shape   store.Shape
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{cells: map[tallyKey]*store.UsageCell{}, shapes: map[shapeKey]*store.ShapeCell{}, entries: map[dayOf]int{}}
}

// Day returns the UTC day of t as roll-ups name it ("2026-11-25").
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func (t *Tally) cell(project, day, backend, user string) *store.UsageCell {
	k := tallyKey{dayOf{project, day}, backend, user}
	c := t.cells[k]
	if c == nil {
		c = &store.UsageCell{Backend: backend, UserID: user}
		t.cells[k] = c
	}
	return c
}

func (t *Tally) shapeCell(project, day, backend string, shape store.Shape) *store.ShapeCell {
	k := shapeKey{dayOf{project, day}, backend, shape}
	c := t.shapes[k]
	if c == nil {
		c = &store.ShapeCell{Backend: backend, Shape: shape}
		t.shapes[k] = c
	}
	return c
}

// AddEntry adds one settled attempt: its cost and its attempt to its
// backend; to its job's count when it ended the job (Final); and, when
// it has a shape, to its backend's usage by shape.
func (t *Tally) AddEntry(e store.LedgerEntry) {
	day := Day(e.At)
	t.entries[dayOf{e.ProjectID, day}]++
	if e.Shape.Known() {
		sc := t.shapeCell(e.ProjectID, day, e.Backend, e.Shape)
		sc.Cost += e.Cost
		sc.Attempts++
		if e.Status == job.AttemptSucceeded {
			sc.AttemptsSucceeded++
		}
	}
	c := t.cell(e.ProjectID, day, e.Backend, e.UserID)
	c.Cost += e.Cost
	c.Attempts++
	switch e.Status {
	case job.AttemptSucceeded:
		c.AttemptsSucceeded++
	case job.AttemptCanceled:
	default:
		c.AttemptsFailed++
	}
	if !e.Final {
		return
	}
	c.Jobs++
	switch e.Status {
	case job.AttemptSucceeded:
		c.JobsSucceeded++
	case job.AttemptCanceled:
	default:
		c.JobsFailed++
	}
}

// AddDay adds a day's roll-up.
func (t *Tally) AddDay(d store.DayUsage) {
	t.entries[dayOf{d.ProjectID, d.Day}] += d.Entries
	for _, in := range d.Cells {
		c := t.cell(d.ProjectID, d.Day, in.Backend, in.UserID)
		c.Cost += in.Cost
		c.Attempts += in.Attempts
		c.AttemptsSucceeded += in.AttemptsSucceeded
		c.AttemptsFailed += in.AttemptsFailed
		c.Jobs += in.Jobs
		c.JobsSucceeded += in.JobsSucceeded
		c.JobsFailed += in.JobsFailed
	}
	for _, in := range d.Shapes {
		c := t.shapeCell(d.ProjectID, d.Day, in.Backend, in.Shape)
		c.Cost += in.Cost
		c.Attempts += in.Attempts
		c.AttemptsSucceeded += in.AttemptsSucceeded
	}
}

// Days returns the tally as roll-ups, one per project and day, sorted by
// project then day, stamped with at.
func (t *Tally) Days(at time.Time) []store.DayUsage {
	byDay := map[dayOf]*store.DayUsage{}
	dayFor := func(k dayOf) *store.DayUsage {
		d := byDay[k]
		if d == nil {
			d = &store.DayUsage{ProjectID: k.project, Day: k.day, Entries: t.entries[k], UpdatedAt: at}
			byDay[k] = d
		}
		return d
	}
	for k, c := range t.cells {
		d := dayFor(k.dayOf)
		d.Cells = append(d.Cells, *c)
	}
	for k, c := range t.shapes {
		d := dayFor(k.dayOf)
		d.Shapes = append(d.Shapes, *c)
	}
	out := make([]store.DayUsage, 0, len(byDay))
	for _, d := range byDay {
		slices.SortFunc(d.Cells, store.CompareCells)
		slices.SortFunc(d.Shapes, store.CompareShapeCells)
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b store.DayUsage) int {
		return cmp.Or(strings.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.Day, b.Day))
	})
	return out
}

// Groups returns the tally's total cost and its groups (see UsageGroup),
// sorted by key; an empty tally has no groups (an empty list).
func (t *Tally) Groups(by GroupBy) (total money.Micros, groups []UsageGroup) {
	byKey := map[string]*UsageGroup{}
	for k, c := range t.cells {
		key := k.backend
		switch by {
		case GroupByUser:
			key = k.user
		case GroupByDay:
			key = k.day
		}
		g := byKey[key]
		if g == nil {
			g = &UsageGroup{Key: key}
			byKey[key] = g
		}
		g.Cost += c.Cost
		total += c.Cost
		if by == GroupByBackend {
			g.Jobs, g.Succeeded, g.Failed = g.Jobs+c.Attempts, g.Succeeded+c.AttemptsSucceeded, g.Failed+c.AttemptsFailed
		} else {
			g.Jobs, g.Succeeded, g.Failed = g.Jobs+c.Jobs, g.Succeeded+c.JobsSucceeded, g.Failed+c.JobsFailed
		}
	}
	groups = make([]UsageGroup, 0, len(byKey))
	for _, g := range byKey {
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b UsageGroup) int { return strings.Compare(a.Key, b.Key) })
	return total, groups
}

// Shapes returns the tally's usage by backend and job shape, summed over
// its days, sorted by store.CompareShapeCells.
func (t *Tally) Shapes() []store.ShapeCell {
	type key struct {
		backend string
		shape   store.Shape
	}
	sum := map[key]*store.ShapeCell{}
	for k, c := range t.shapes {
		s := sum[key{k.backend, k.shape}]
		if s == nil {
			s = &store.ShapeCell{Backend: k.backend, Shape: k.shape}
			sum[key{k.backend, k.shape}] = s
		}
		s.Cost += c.Cost
		s.Attempts += c.Attempts
		s.AttemptsSucceeded += c.AttemptsSucceeded
	}
	out := make([]store.ShapeCell, 0, len(sum))
	for _, c := range sum {
		out = append(out, *c)
	}
	slices.SortFunc(out, store.CompareShapeCells)
	return out
}
