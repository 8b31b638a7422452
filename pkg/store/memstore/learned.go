package memstore

import (
	"context"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// CountJobs counts the jobs q's filters select, at most upTo.
func (s *Store) CountJobs(ctx context.Context, q store.ListJobsQuery, upTo int) (int, error) {
	q.Limit, q.PageToken = 0, ""
	if _, _, err := checkQuery(q); err != nil {
		return 0, err
	}
	if upTo <= 0 {
		return 0, errclass.New(errclass.Permanent, "memstore: count jobs: upTo must be positive, got %d", upTo)
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.jobs {
		if q.Matches(j) {
			n++
		}
	}
	return min(n, upTo), nil
}

// ListBackendStats returns every backend's learned figures, by name.
func (s *Store) ListBackendStats(ctx context.Context) ([]store.BackendStats, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.BackendStats, 0, len(s.stats))
	for _, st := range s.stats {
		out = append(out, store.CloneBackendStats(st))
	}
	store.SortBackendStats(out)
	return out, nil
}

func (t *tx) GetBackendStats(backend string) (store.BackendStats, error) {
	if err := t.checkRead(); err != nil {
		return store.BackendStats{}, err
	}
	if err := checkID("backend", backend); err != nil {
		return store.BackendStats{}, err
	}
	if st, ok := t.s.stats[backend]; ok {
		return store.CloneBackendStats(st), nil
	}
	return store.BackendStats{Backend: backend, Cells: []store.StatsCell{}}, nil
}

func (t *tx) PutBackendStats(st store.BackendStats) error {
	if t.done {
		return errTxDone
	}
	if err := checkID("backend", st.Backend); err != nil {
		return err
	}
	if err := st.Check(); err != nil {
		return err
	}
	c := store.CloneBackendStats(st)
	t.addWrite(write{apply: func(s *Store) {
		if s.stats == nil {
			s.stats = map[string]store.BackendStats{}
		}
		s.stats[c.Backend] = c
	}})
	return nil
}
