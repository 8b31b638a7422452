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

// ListStale returns up to q.Limit jobs in q.Status (on q.Backend, when
// set) not updated since before q.UpdatedBefore, oldest updated_at first,
// then by id; see store.StaleJobs. It needs the composite index status ASC,
// updated_at ASC, __name__ ASC, and with a backend status ASC, backend ASC,
// updated_at ASC, __name__ ASC (indexes.json).
func (s *Store) ListStale(ctx context.Context, q store.StaleQuery) ([]*job.Job, error) {
	limit, err := store.StaleLimit(q.Status, q.Limit)
	if err != nil {
		return nil, err
	}
	fq := s.c.Collection(jobsCollection).Where(fieldStatus, "==", string(q.Status))
	if q.Backend != "" {
		fq = fq.Where(fieldBackend, "==", q.Backend)
	}
	snaps, err := fq.Where(fieldUpdatedAt, "<", store.NormalizeTime(q.UpdatedBefore)).
		OrderBy(fieldUpdatedAt, firestore.Asc).
		OrderBy(firestore.DocumentID, firestore.Asc).
		Limit(limit).
		Documents(ctx).GetAll()
	if err != nil {
		return nil, classify(err, "list %s jobs updated before %s", q.Status, q.UpdatedBefore.UTC().Format(time.RFC3339Nano))
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
