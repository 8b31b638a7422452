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
	// ListStale returns up to limit jobs in status (which must be a valid
	// status: errclass.Permanent otherwise) whose updated_at is before
	// updatedBefore, across all projects, oldest updated_at first, then by
	// id. limit 0 means DefaultPageSize; more than MaxPageSize is
	// MaxPageSize; negative is errclass.Permanent. Firestore needs the
	// composite index jobs: status ASC, updated_at ASC, __name__ ASC.
	ListStale(ctx context.Context, status job.Status, updatedBefore time.Time, limit int) ([]*job.Job, error)
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
