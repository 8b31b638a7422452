package platform_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// unreachableStore is a store whose reads fail as an unreachable
// Firestore's do.
type unreachableStore struct{ store.Store }

func (unreachableStore) GetJob(context.Context, string) (*job.Job, error) {
	return nil, errclass.New(errclass.Retryable, "firestore: connection refused")
}

// readyz serves the API with platform.Ready over st and q and answers the
// status of GET /readyz.
func readyz(t *testing.T, st store.Store, q *memqueue.Queue) int {
	t.Helper()
	s, err := api.New(api.Config{Store: st, Queue: q, Catalog: catalog.Default(),
		Ready: platform.Ready(st, q, queue.TopicJobs), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	return res.StatusCode
}

func TestReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	newQueue := func(t *testing.T, topics ...string) *memqueue.Queue {
		q := memqueue.New()
		t.Cleanup(func() { _ = q.Close() })
		for _, topic := range topics {
			require.NoError(t, q.EnsureTopic(ctx, topic))
		}
		return q
	}

	t.Run("store and queue answer", func(t *testing.T) {
		t.Parallel()
		st, q := memstore.New(), newQueue(t, queue.TopicJobs)
		require.NoError(t, platform.Ready(st, q, queue.TopicJobs)(ctx))
		require.Equal(t, http.StatusOK, readyz(t, st, q))
	})
	t.Run("store unreachable", func(t *testing.T) {
		t.Parallel()
		st, q := unreachableStore{memstore.New()}, newQueue(t, queue.TopicJobs)
		err := platform.Ready(st, q, queue.TopicJobs)(ctx)
		require.ErrorIs(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "store: ")
		require.Equal(t, http.StatusServiceUnavailable, readyz(t, st, q))
	})
	t.Run("store closed", func(t *testing.T) {
		t.Parallel()
		st, q := memstore.New(), newQueue(t, queue.TopicJobs)
		require.NoError(t, st.Close())
		require.Equal(t, http.StatusServiceUnavailable, readyz(t, st, q))
	})
	t.Run("topic missing", func(t *testing.T) {
		t.Parallel()
		st, q := memstore.New(), newQueue(t, queue.TopicEvents)
		err := platform.Ready(st, q, queue.TopicJobs, queue.TopicEvents)(ctx)
		require.ErrorIs(t, err, errclass.NotFound)
		require.ErrorContains(t, err, "queue: ")
		require.ErrorContains(t, err, queue.TopicJobs)
		require.Equal(t, http.StatusServiceUnavailable, readyz(t, st, q))
		// Provisioning the topic makes the service ready.
		require.NoError(t, q.EnsureTopic(ctx, queue.TopicJobs))
		require.Equal(t, http.StatusOK, readyz(t, st, q))
	})
	t.Run("queue closed", func(t *testing.T) {
		t.Parallel()
		st, q := memstore.New(), newQueue(t, queue.TopicJobs)
		require.NoError(t, q.Close())
		require.Equal(t, http.StatusServiceUnavailable, readyz(t, st, q))
	})
	t.Run("both down", func(t *testing.T) {
		t.Parallel()
		st, q := unreachableStore{memstore.New()}, newQueue(t)
		err := platform.Ready(st, q, queue.TopicJobs)(ctx)
		require.ErrorContains(t, err, "store: ")
		require.ErrorContains(t, err, "queue: ")
	})
}
