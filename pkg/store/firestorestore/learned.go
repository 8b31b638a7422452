package firestorestore

import (
	"context"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/store"
)

// backendStatsCollection holds backend_stats/{backend}: what was learned
// of each backend (store.BackendStats), one document per backend.
const backendStatsCollection = "backend_stats"

// backendStatsDoc is backend_stats/{backend}. Its cells, windows and
// anomalies are not indexed (indexes.json): nothing queries them.
type backendStatsDoc struct {
	Cells     []statsCellDoc   `firestore:"cells"`
	UpdatedAt time.Time        `firestore:"updated_at"`
	Windows   []statsWindowDoc `firestore:"windows"`
	Anomalies []anomalyDoc     `firestore:"anomalies"`
}

type statsWindowDoc struct {
	Start     time.Time `firestore:"start"`
	Successes int       `firestore:"successes"`
	Failures  int       `firestore:"failures"`
	LogGen    float64   `firestore:"log_gen"`
	CostRatio float64   `firestore:"cost_ratio"`
}

type anomalyDoc struct {
	Signal   string    `firestore:"signal"`
	Since    time.Time `firestore:"since"`
	Value    float64   `firestore:"value"`
	Baseline float64   `firestore:"baseline"`
	Score    float64   `firestore:"score"`
}

type statsCellDoc struct {
	Shape         string    `firestore:"shape"`
	Successes     float64   `firestore:"successes"`
	Failures      float64   `firestore:"failures"`
	Latency       []float64 `firestore:"latency"`
	GenSeconds    float64   `firestore:"gen_seconds"`
	CostRatio     float64   `firestore:"cost_ratio"`
	FailCostRatio float64   `firestore:"fail_cost_ratio"`
	At            time.Time `firestore:"at"`
}

func (s *Store) backendStatsRef(backend string) *firestore.DocumentRef {
	return s.c.Collection(backendStatsCollection).Doc(backend)
}

func toBackendStatsDoc(st store.BackendStats) backendStatsDoc {
	d := backendStatsDoc{Cells: make([]statsCellDoc, len(st.Cells)), UpdatedAt: store.NormalizeTime(st.UpdatedAt)}
	for i, c := range st.Cells {
		d.Cells[i] = statsCellDoc(c)
		d.Cells[i].At = store.NormalizeTime(c.At)
	}
	d.Windows = make([]statsWindowDoc, len(st.Windows))
	for i, w := range st.Windows {
		d.Windows[i] = statsWindowDoc(w)
		d.Windows[i].Start = store.NormalizeTime(w.Start)
	}
	d.Anomalies = make([]anomalyDoc, len(st.Anomalies))
	for i, a := range st.Anomalies {
		d.Anomalies[i] = anomalyDoc(a)
		d.Anomalies[i].Since = store.NormalizeTime(a.Since)
	}
	return d
}

func fromBackendStatsDoc(backend string, d backendStatsDoc) store.BackendStats {
	st := store.BackendStats{Backend: backend, Cells: make([]store.StatsCell, len(d.Cells)), UpdatedAt: store.NormalizeTime(d.UpdatedAt)}
	for i, c := range d.Cells {
		st.Cells[i] = store.StatsCell(c)
		st.Cells[i].At = store.NormalizeTime(c.At)
	}
	st.Windows = make([]store.StatsWindow, len(d.Windows))
	for i, w := range d.Windows {
		st.Windows[i] = store.StatsWindow(w)
		st.Windows[i].Start = store.NormalizeTime(w.Start)
	}
	st.Anomalies = make([]store.Anomaly, len(d.Anomalies))
	for i, a := range d.Anomalies {
		st.Anomalies[i] = store.Anomaly(a)
		st.Anomalies[i].Since = store.NormalizeTime(a.Since)
	}
	return st
}

func (t *tx) GetBackendStats(backend string) (store.BackendStats, error) {
	if err := t.checkRead(); err != nil {
		return store.BackendStats{}, err
	}
	if err := checkID("backend", backend); err != nil {
		return store.BackendStats{}, err
	}
	var d backendStatsDoc
	found, err := getDoc(context.Background(), t.ft, t.s.backendStatsRef(backend), &d, "the stats of backend "+backend)
	if err != nil {
		return store.BackendStats{}, err
	}
	if !found {
		return store.BackendStats{Backend: backend, Cells: []store.StatsCell{}}, nil
	}
	return fromBackendStatsDoc(backend, d), nil
}

func (t *tx) PutBackendStats(st store.BackendStats) error {
	if err := t.checkWrite("backend", st.Backend); err != nil {
		return err
	}
	if err := st.Check(); err != nil {
		return err
	}
	t.set(t.s.backendStatsRef(st.Backend), toBackendStatsDoc(st))
	return nil
}

// ListBackendStats reads every backend's learned figures, by name.
func (s *Store) ListBackendStats(ctx context.Context) ([]store.BackendStats, error) {
	it := s.c.Collection(backendStatsCollection).OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx)
	return listDocs(it, "backend stats", fromBackendStatsDoc)
}
