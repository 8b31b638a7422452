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
	closedStore := memstore.New()
	require.NoError(t, closedStore.Close())
	for _, tt := range []struct {
		name     string
		st       store.Store
		topics   []string // what the queue has
		closeQ   bool
		status   int
		class    error    // of Ready's error; nil: no error
		messages []string // in Ready's error
	}{
		{"store and queue answer", memstore.New(), []string{queue.TopicJobs}, false, http.StatusOK, nil, nil},
		{"store unreachable", unreachableStore{memstore.New()}, []string{queue.TopicJobs}, false,
			http.StatusServiceUnavailable, errclass.Retryable, []string{"store: "}},
		{"store closed", closedStore, []string{queue.TopicJobs}, false, http.StatusServiceUnavailable, errclass.Permanent, []string{"store: "}},
		{"topic missing", memstore.New(), []string{queue.TopicEvents}, false,
			http.StatusServiceUnavailable, errclass.NotFound, []string{"queue: ", queue.TopicJobs}},
		{"queue closed", memstore.New(), []string{queue.TopicJobs}, true, http.StatusServiceUnavailable, errclass.Permanent, []string{"queue: "}},
		{"both down", unreachableStore{memstore.New()}, nil, false, http.StatusServiceUnavailable, errclass.NotFound, []string{"store: ", "queue: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := memqueue.New()
			t.Cleanup(func() { _ = q.Close() })
			for _, topic := range tt.topics {
				require.NoError(t, q.EnsureTopic(ctx, topic))
			}
			if tt.closeQ {
				require.NoError(t, q.Close())
			}
			err := platform.Ready(tt.st, q, queue.TopicJobs)(ctx)
			if tt.class == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.class)
			}
			for _, m := range tt.messages {
				require.ErrorContains(t, err, m)
			}
			require.Equal(t, tt.status, readyz(t, tt.st, q))
		})
	}
}

// TestReadyOnceProvisioned: a service whose topic is created after it
// started becomes ready without a restart.
func TestReadyOnceProvisioned(t *testing.T) {
	t.Parallel()
	st, q := memstore.New(), memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	require.Equal(t, http.StatusServiceUnavailable, readyz(t, st, q))
	require.NoError(t, q.EnsureTopic(context.Background(), queue.TopicJobs))
	require.Equal(t, http.StatusOK, readyz(t, st, q))
}
