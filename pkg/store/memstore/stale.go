package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// ListStale returns up to limit jobs in status not updated since before
// updatedBefore, oldest updated_at first, then by id; see store.StaleJobs.
func (s *Store) ListStale(ctx context.Context, status job.Status, updatedBefore time.Time, limit int) ([]*job.Job, error) {
	limit, err := store.StaleLimit(status, limit)
	if err != nil {
		return nil, err
	}
	before := store.NormalizeTime(updatedBefore)
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var stale []*job.Job
	for _, j := range s.jobs {
		if j.Status == status && j.UpdatedAt.Before(before) {
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
