package firestorestore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Collections, documents and fields of usage roll-ups (see store.UsageTx).
const (
	usageCollection   = "usage"
	rollupsCollection = "rollups"
	usageWatermarkDoc = "usage"
	fieldDay          = "day"

	// cellsPerDoc bounds the cells of one roll-up document, far below
	// Firestore's 1 MiB per document (a cell is at most ~700 bytes: a
	// 128-character user id and seven numbers). A day with more cells
	// continues in documents {day}~1, {day}~2, ...
	cellsPerDoc = 1000
	// shapesPerDoc bounds the shape cells of one roll-up document (a
	// shape cell is at most ~250 bytes), beside its cells: 1,000 cells
	// and 500 shape cells stay under 1 MiB.
	shapesPerDoc = 500
)

// usageDoc is one document of a day's roll-up: projects/{p}/usage/{day}
// (part 0, which says how many parts there are) or .../{day}~{part}.
type usageDoc struct {
	ProjectID string         `firestore:"project_id"`
	Day       string         `firestore:"day"`
	Part      int            `firestore:"part"`
	Parts     int            `firestore:"parts"` // on part 0
	Entries   int            `firestore:"entries"`
	Cells     []usageCellDoc `firestore:"cells"`
	Shapes    []shapeCellDoc `firestore:"shapes,omitempty"`
	UpdatedAt time.Time      `firestore:"updated_at"`
}

// shapeCellDoc is a store.ShapeCell.
type shapeCellDoc struct {
	Backend           string   `firestore:"backend"`
	Shape             shapeDoc `firestore:"shape"`
	CostMicros        int64    `firestore:"cost_micros"`
	Attempts          int      `firestore:"attempts"`
	AttemptsSucceeded int      `firestore:"attempts_succeeded"`
}

// shapeDoc is a store.Shape.
type shapeDoc struct {
	Tier        string `firestore:"tier"`
	Resolution  string `firestore:"resolution,omitempty"`
	AspectRatio string `firestore:"aspect_ratio,omitempty"`
	Seconds     int    `firestore:"seconds,omitempty"`
	Audio       bool   `firestore:"audio,omitempty"`
	ImageScheme string `firestore:"image_scheme,omitempty"`
}

// toShapeDoc returns the document of a ledger entry's shape, nil for the
// zero one.
func toShapeDoc(s store.Shape) *shapeDoc {
	if s == (store.Shape{}) {
		return nil
	}
	d := shapeDocOf(s)
	return &d
}

func shapeDocOf(s store.Shape) shapeDoc {
	return shapeDoc{Tier: string(s.Tier), Resolution: string(s.Resolution), AspectRatio: string(s.AspectRatio),
		Seconds: s.Seconds, Audio: s.Audio, ImageScheme: s.ImageScheme}
}

func fromShapeDoc(d *shapeDoc) store.Shape {
	if d == nil {
		return store.Shape{}
	}
	return store.Shape{Tier: job.Tier(d.Tier), Resolution: job.Resolution(d.Resolution), AspectRatio: job.AspectRatio(d.AspectRatio),
		Seconds: d.Seconds, Audio: d.Audio, ImageScheme: d.ImageScheme}
}

// usageCellDoc is a store.UsageCell.
type usageCellDoc struct {
	Backend           string `firestore:"backend"`
	UserID            string `firestore:"user_id,omitempty"`
	CostMicros        int64  `firestore:"cost_micros"`
	Attempts          int    `firestore:"attempts"`
	AttemptsSucceeded int    `firestore:"attempts_succeeded"`
	AttemptsFailed    int    `firestore:"attempts_failed"`
	Jobs              int    `firestore:"jobs"`
	JobsSucceeded     int    `firestore:"jobs_succeeded"`
	JobsFailed        int    `firestore:"jobs_failed"`
}

// watermarkDoc is rollups/usage.
type watermarkDoc struct {
	Through time.Time `firestore:"through"`
}

func (s *Store) usageRef(projectID, day string, part int) *firestore.DocumentRef {
	id := day
	if part > 0 {
		id += "~" + strconv.Itoa(part)
	}
	return s.budgetRef(projectID).Collection(usageCollection).Doc(id)
}

func (s *Store) watermarkRef() *firestore.DocumentRef {
	return s.c.Collection(rollupsCollection).Doc(usageWatermarkDoc)
}

// checkDay validates the ids of a roll-up.
func checkDay(projectID, day string) error {
	if err := checkID("project", projectID); err != nil {
		return err
	}
	if !store.ValidDay(day) {
		return errclass.New(errclass.Permanent, "firestorestore: invalid day %q: want yyyy-mm-dd", day)
	}
	return nil
}

// toUsageDocs splits a day's roll-up into its documents: as many as its
// cells or its shape cells need.
func toUsageDocs(d store.DayUsage) []usageDoc {
	d = store.CloneDayUsage(d)
	parts := max(1, (len(d.Cells)+cellsPerDoc-1)/cellsPerDoc, (len(d.Shapes)+shapesPerDoc-1)/shapesPerDoc)
	docs := make([]usageDoc, parts)
	for p := range docs {
		cells := d.Cells[min(p*cellsPerDoc, len(d.Cells)):min((p+1)*cellsPerDoc, len(d.Cells))]
		docs[p] = usageDoc{ProjectID: d.ProjectID, Day: d.Day, Part: p, Cells: make([]usageCellDoc, 0, len(cells)), UpdatedAt: d.UpdatedAt}
		for _, c := range cells {
			docs[p].Cells = append(docs[p].Cells, usageCellDoc{
				Backend: c.Backend, UserID: c.UserID, CostMicros: int64(c.Cost),
				Attempts: c.Attempts, AttemptsSucceeded: c.AttemptsSucceeded, AttemptsFailed: c.AttemptsFailed,
				Jobs: c.Jobs, JobsSucceeded: c.JobsSucceeded, JobsFailed: c.JobsFailed,
			})
		}
		for _, c := range d.Shapes[min(p*shapesPerDoc, len(d.Shapes)):min((p+1)*shapesPerDoc, len(d.Shapes))] {
			docs[p].Shapes = append(docs[p].Shapes, shapeCellDoc{Backend: c.Backend, Shape: shapeDocOf(c.Shape),
				CostMicros: int64(c.Cost), Attempts: c.Attempts, AttemptsSucceeded: c.AttemptsSucceeded})
		}
	}
	docs[0].Parts, docs[0].Entries = parts, d.Entries
	return docs
}

// fromUsageDocs joins the documents of one day, part 0 first; parts past
// part 0's count are left over from a larger roll-up and ignored.
func fromUsageDocs(docs []usageDoc) store.DayUsage {
	head := docs[0]
	d := store.DayUsage{ProjectID: head.ProjectID, Day: head.Day, Entries: head.Entries, UpdatedAt: store.NormalizeTime(head.UpdatedAt), Cells: []store.UsageCell{}}
	for _, doc := range docs {
		if doc.Part >= max(head.Parts, 1) {
			continue
		}
		for _, c := range doc.Cells {
			d.Cells = append(d.Cells, store.UsageCell{
				Backend: c.Backend, UserID: c.UserID, Cost: money.Micros(c.CostMicros),
				Attempts: c.Attempts, AttemptsSucceeded: c.AttemptsSucceeded, AttemptsFailed: c.AttemptsFailed,
				Jobs: c.Jobs, JobsSucceeded: c.JobsSucceeded, JobsFailed: c.JobsFailed,
			})
		}
		for _, c := range doc.Shapes {
			d.Shapes = append(d.Shapes, store.ShapeCell{Backend: c.Backend, Shape: fromShapeDoc(&c.Shape),
				Cost: money.Micros(c.CostMicros), Attempts: c.Attempts, AttemptsSucceeded: c.AttemptsSucceeded})
		}
	}
	slices.SortFunc(d.Cells, store.CompareCells)
	slices.SortFunc(d.Shapes, store.CompareShapeCells)
	return d
}

// ListDayUsage returns a project's roll-ups of the days in [fromDay, toDay).
func (s *Store) ListDayUsage(ctx context.Context, projectID, fromDay, toDay string) ([]store.DayUsage, error) {
	for _, day := range []string{fromDay, toDay} {
		if err := checkDay(projectID, day); err != nil {
			return nil, err
		}
	}
	it := s.budgetRef(projectID).Collection(usageCollection).
		Where(fieldDay, ">=", fromDay).Where(fieldDay, "<", toDay).OrderBy(fieldDay, firestore.Asc).Documents(ctx)
	docs, err := listDocs(it, "usage of project "+projectID, func(_ string, d usageDoc) usageDoc { return d })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(docs, func(a, b usageDoc) int {
		if c := strings.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		return a.Part - b.Part
	})
	out := []store.DayUsage{}
	for i := 0; i < len(docs); {
		j := i + 1
		for j < len(docs) && docs[j].Day == docs[i].Day {
			j++
		}
		if docs[i].Part == 0 { // a day is whole only with its part 0
			out = append(out, fromUsageDocs(docs[i:j]))
		}
		i = j
	}
	return out, nil
}

// GetUsageWatermark reads the roll-up watermark (zero when none).
func (s *Store) GetUsageWatermark(ctx context.Context) (time.Time, error) {
	return s.getWatermark(ctx, nil)
}

func (s *Store) getWatermark(ctx context.Context, ft *firestore.Transaction) (time.Time, error) {
	var d watermarkDoc
	if _, err := getDoc(ctx, ft, s.watermarkRef(), &d, "usage watermark"); err != nil {
		return time.Time{}, err
	}
	return store.NormalizeTime(d.Through), nil
}

// ListSettled returns every project's ledger entries settled in [from, to),
// by At then id, at most limit. It needs only the automatic index on at.
func (s *Store) ListSettled(ctx context.Context, from, to time.Time, limit int) ([]store.LedgerEntry, error) {
	if limit < 1 {
		return nil, errclass.New(errclass.Permanent, "firestorestore: list settled: limit must be positive, got %d", limit)
	}
	fq := s.c.Collection(ledgerCollection).Where(fieldAt, "<", store.NormalizeTime(to))
	if !from.IsZero() {
		fq = fq.Where(fieldAt, ">=", store.NormalizeTime(from))
	}
	it := fq.OrderBy(fieldAt, firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc).Limit(limit).Documents(ctx)
	return listDocs(it, "settled ledger entries", fromLedgerDoc)
}

func (t *tx) GetDayUsage(projectID, day string) (store.DayUsage, error) {
	if err := t.checkRead(); err != nil {
		return store.DayUsage{}, err
	}
	zero := store.DayUsage{ProjectID: projectID, Day: day}
	if err := checkDay(projectID, day); err != nil {
		return zero, err
	}
	var head usageDoc
	found, err := getDoc(context.Background(), t.ft, t.s.usageRef(projectID, day, 0), &head, "usage of "+day+" of project "+projectID)
	if err != nil || !found {
		return zero, err
	}
	docs := []usageDoc{head}
	for p := 1; p < head.Parts; p++ {
		var d usageDoc
		if _, err := getDoc(context.Background(), t.ft, t.s.usageRef(projectID, day, p), &d, "usage of "+day+" of project "+projectID); err != nil {
			return zero, err
		}
		docs = append(docs, d)
	}
	return fromUsageDocs(docs), nil
}

func (t *tx) PutDayUsage(d store.DayUsage) error {
	if t.done {
		return errTxDone
	}
	if err := checkDay(d.ProjectID, d.Day); err != nil {
		return err
	}
	for _, doc := range toUsageDocs(d) {
		t.set(t.s.usageRef(d.ProjectID, d.Day, doc.Part), doc)
	}
	return nil
}

func (t *tx) GetUsageWatermark() (time.Time, error) {
	if err := t.checkRead(); err != nil {
		return time.Time{}, err
	}
	return t.s.getWatermark(context.Background(), t.ft)
}

func (t *tx) PutUsageWatermark(w time.Time) error {
	if t.done {
		return errTxDone
	}
	t.set(t.s.watermarkRef(), watermarkDoc{Through: store.NormalizeTime(w)})
	return nil
}
