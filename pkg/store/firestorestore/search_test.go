package firestorestore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// TestJobWithoutErrorCodeField: a job document written before error_code
// existed decodes whole and is listed, and the error_code filter finds it
// once it is written again.
func TestJobWithoutErrorCodeField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := firestoreemu.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c, err := srv.Client(ctx, "old-docs")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	s := NewFromClient(c)

	j := job.New("", "p", job.Request{Prompt: "fox", DurationSeconds: 5}, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	j.Status, j.Backend = job.StatusFailed, "fal"
	j.Error = &job.ErrorInfo{Code: job.CodeBackendFailed, Message: "three attempts failed"}
	old := toJobDoc(j)
	old.ErrorCode = "" // omitempty: the field is absent, as in documents of earlier versions
	_, err = s.jobRef(j.ID).Set(ctx, old)
	require.NoError(t, err)
	raw, err := s.jobRef(j.ID).Get(ctx)
	require.NoError(t, err)
	_, err = raw.DataAt(fieldErrorCode)
	require.Error(t, err, "the document has no error_code field")

	got, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, j.Error, got.Error)
	list := func(q store.ListJobsQuery) []*job.Job {
		page, err := s.ListJobs(ctx, q)
		require.NoError(t, err)
		return page.Jobs
	}
	require.Len(t, list(store.ListJobsQuery{ProjectID: "p", Status: job.StatusFailed, Backend: "fal"}), 1)
	require.Empty(t, list(store.ListJobsQuery{ProjectID: "p", ErrorCode: job.CodeBackendFailed}))

	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutJob(got) }))
	require.Len(t, list(store.ListJobsQuery{ProjectID: "p", ErrorCode: job.CodeBackendFailed}), 1)
}
