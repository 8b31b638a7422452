package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/worker"
)

// scriptedCopier answers Copy with the errors queued for a backend's URLs,
// then succeeds; it records every call. (output.Memory and output.GCS are
// tested against real downloads in pkg/output and test/.)
type scriptedCopier struct {
	mu    sync.Mutex
	errs  []error
	calls []string
}

func (c *scriptedCopier) Copy(_ context.Context, jobID string, attempt int, src string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, src)
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return "", err
	}
	return fmt.Sprintf("gs://outputs/videos/%s/%d.mp4", jobID, attempt), nil
}

func TestOutputCopyRecordsTheCopy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cp := &scriptedCopier{errs: []error{errclass.New(errclass.Retryable, "bucket busy")}}
	e.pipeline(t, func(c *worker.Config) { c.Output = cp })

	j := e.ingest(t, context.Background(), request(t, "copy"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, fmt.Sprintf("gs://outputs/videos/%s/1.mp4", j.ID), got.Result.VideoURL)
	require.Len(t, cp.calls, 2, "a transient copy failure is retried (redelivery), not failed over")
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "the retry polls the stored handle: no second generation")
}

func TestOutputCopyLostFailsOverWithoutStrike(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cp := &scriptedCopier{errs: []error{errclass.New(errclass.Permanent, "source answered 410: expired")}}
	e.pipeline(t, func(c *worker.Config) { c.Output = cp })

	j := e.ingest(t, context.Background(), request(t, "expired"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Len(t, got.Attempts, 2)
	require.Equal(t, "alpha", got.Attempts[0].Backend)
	require.Equal(t, job.AttemptFailed, got.Attempts[0].Status)
	require.Positive(t, int64(got.Attempts[0].Cost), "the lost video was still generated and billed")
	require.Equal(t, "beta", got.Backend)
	require.Zero(t, e.backendState(t, "alpha").Breaker.ConsecutiveFailures, "not the backend's fault")
}
