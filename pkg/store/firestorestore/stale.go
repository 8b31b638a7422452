package firestorestore

import (
	"context"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// fieldUpdatedAt is the job field ListStale filters and orders on.
const fieldUpdatedAt = "updated_at"

// ListStale returns up to limit jobs in status not updated since before
// updatedBefore, oldest updated_at first, then by id; see store.StaleJobs.
// It needs the composite index status ASC, updated_at ASC, __name__ ASC
// (indexes.json).
func (s *Store) ListStale(ctx context.Context, status job.Status, updatedBefore time.Time, limit int) ([]*job.Job, error) {
	limit, err := store.StaleLimit(status, limit)
	if err != nil {
		return nil, err
	}
	snaps, err := s.c.Collection(jobsCollection).
		Where(fieldStatus, "==", string(status)).
		Where(fieldUpdatedAt, "<", store.NormalizeTime(updatedBefore)).
		OrderBy(fieldUpdatedAt, firestore.Asc).
		OrderBy(firestore.DocumentID, firestore.Asc).
		Limit(limit).
		Documents(ctx).GetAll()
	if err != nil {
		return nil, classify(err, "list %s jobs updated before %s", status, updatedBefore.UTC().Format(time.RFC3339Nano))
	}
	out := make([]*job.Job, 0, len(snaps))
	for _, snap := range snaps {
		j, err := decodeJob(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}
