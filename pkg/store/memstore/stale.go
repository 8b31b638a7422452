package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// ListStale returns up to q.Limit jobs in q.Status (on q.Backend, when
// set) not updated since before q.UpdatedBefore, oldest updated_at first,
// then by id; see store.StaleJobs.
func (s *Store) ListStale(ctx context.Context, q store.StaleQuery) ([]*job.Job, error) {
	limit, err := store.StaleLimit(q.Status, q.Limit)
	if err != nil {
		return nil, err
	}
	before := store.NormalizeTime(q.UpdatedBefore)
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var stale []*job.Job
	for _, j := range s.jobs {
		if j.Status == q.Status && j.UpdatedAt.Before(before) && (q.Backend == "" || j.Backend == q.Backend) {
			stale = append(stale, j)
		}
	}
	slices.SortFunc(stale, func(a, b *job.Job) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]*job.Job, 0, min(len(stale), limit))
	for _, j := range stale[:min(len(stale), limit)] {
		out = append(out, j.Clone())
	}
	return out, nil
}
