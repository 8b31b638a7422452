package store

import (
	"cmp"
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// StaleJobs is the query of the stuck-job sweeper (package sweeper): jobs
// of every project that have not been updated for a while.
type StaleJobs interface {
	// ListStale returns up to q.Limit jobs in q.Status whose updated_at is
	// before q.UpdatedBefore (and, when q.Backend is set, whose latest
	// attempt is on that backend), across all projects, oldest updated_at
	// first, then by id. See StaleQuery for the arguments' errors. Firestore
	// needs the composite indexes jobs: status ASC, updated_at ASC,
	// __name__ ASC and jobs: status ASC, backend ASC, updated_at ASC,
	// __name__ ASC.
	ListStale(ctx context.Context, q StaleQuery) ([]*job.Job, error)
}

// StaleQuery selects the jobs of ListStale.
type StaleQuery struct {
	// Status must be a valid status: errclass.Permanent otherwise.
	Status job.Status
	// Backend, when set, keeps the jobs whose latest attempt is on it
	// (job.Job.Backend), so that one backend's backlog does not fill the
	// page of the others.
	Backend string
	// UpdatedBefore is a strict bound on updated_at.
	UpdatedBefore time.Time
	// Limit 0 means DefaultPageSize; more than MaxPageSize is MaxPageSize;
	// negative is errclass.Permanent.
	Limit int
}

// StaleLimit validates the status and limit of a ListStale call and returns
// the effective limit; it is for implementations.
func StaleLimit(status job.Status, limit int) (int, error) {
	if !status.Valid() {
		return 0, errclass.New(errclass.Permanent, "list stale jobs: unknown status %q", status)
	}
	if limit < 0 {
		return 0, errclass.New(errclass.Permanent, "list stale jobs: limit must be 0..%d, got %d", MaxPageSize, limit)
	}
	return min(cmp.Or(limit, DefaultPageSize), MaxPageSize), nil
}
