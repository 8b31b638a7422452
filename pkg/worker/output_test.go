package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/output"
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

// TestOutputCopyRefusesPrivateNetworks: a provider that answers with a
// URL on loopback (issue 13 finding 2: the worker fetched it and stored
// the answer as the job's video) gets nothing fetched; every attempt fails
// over without a strike, and the job fails without a result.
func TestOutputCopyRefusesPrivateNetworks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var hits atomic.Int64
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write([]byte("\x00\x00\x00\x18ftypmp42 metadata token"))
	}))
	t.Cleanup(secret.Close)
	for _, f := range e.fakes {
		f.on("ssrf", script{final: backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: secret.URL + "/secret"}})
	}
	cp, err := output.NewMemory(output.Config{Bucket: "outputs"}) // as in services: private networks refused
	require.NoError(t, err)
	e.pipeline(t, func(c *worker.Config) { c.Output = cp })

	j := e.ingest(t, context.Background(), request(t, "ssrf"))
	got := e.wait(t, j.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status, "attempts: %+v", got.Attempts)
	require.Nil(t, got.Result)
	require.NotEmpty(t, got.Attempts)
	for _, a := range got.Attempts {
		require.Equal(t, job.AttemptFailed, a.Status)
		require.Contains(t, a.Error.Message, "refusing to connect to 127.0.0.1: loopback address")
		require.Zero(t, e.backendState(t, a.Backend).Breaker.ConsecutiveFailures, "not the backend's fault")
	}
	require.Zero(t, hits.Load(), "the worker fetched a loopback URL")
	require.Zero(t, cp.Writes())
}
