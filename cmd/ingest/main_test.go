package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
)

// addrHandler is a slog.Handler that passes on the address of the
// "listening" record and drops the rest.
type addrHandler struct {
	slog.Handler
	addr chan<- string
}

func (addrHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h addrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			h.addr <- a.Value.String()
		}
		return true
	})
	return nil
}

// TestReadyz runs the service over the production clients, against the
// Pub/Sub and Firestore emulators: /readyz is 503 until aiprod-jobs
// exists, 200 once it does, and 503 again when Firestore stops answering.
func TestReadyz(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps, err := pubsubemu.Serve("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	q, err := ps.Queue(ctx, "ingest-test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	fs, err := firestoreemu.NewServer()
	require.NoError(t, err)
	fc, err := fs.Client(ctx, "ingest-test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = fc.Close(); _ = fs.Close() })

	addr := make(chan string, 1)
	log := slog.New(addrHandler{Handler: slog.DiscardHandler, addr: addr})
	cfg := Config{Config: platform.Config{Project: "ingest-test", Catalog: catalog.Default()}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, cfg, platform.Deps{Log: log, Queue: q, Store: firestorestore.NewFromClient(fc)})
	}()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
	var url string
	select {
	case a := <-addr:
		_, port, err := net.SplitHostPort(a)
		require.NoError(t, err)
		url = "http://127.0.0.1:" + port + "/readyz"
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	}
	readyz := func() int {
		res, err := http.Get(url)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		return res.StatusCode
	}

	require.Equal(t, http.StatusServiceUnavailable, readyz(), "no aiprod-jobs topic yet")
	require.NoError(t, q.EnsureTopic(ctx, queue.TopicJobs))
	require.Equal(t, http.StatusOK, readyz())
	require.NoError(t, fc.Close())
	require.Equal(t, http.StatusServiceUnavailable, readyz(), "Firestore's client is closed")
}
