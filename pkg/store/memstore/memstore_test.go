package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) store.Store { return memstore.New() })
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	require.NoError(t, s.Close())
	_, err := s.GetJob(context.Background(), "x")
	require.ErrorIs(t, err, errclass.Permanent)
	require.NoError(t, s.Close(), "Close is idempotent")
}

func TestTxUnusableAfterRunTx(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	var leaked store.Tx
	require.NoError(t, s.RunTx(context.Background(), func(tx store.Tx) error { leaked = tx; return nil }))
	_, err := leaked.GetJob("x")
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorIs(t, leaked.PutBackend(store.BackendState{Name: "x"}), errclass.Permanent)
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := memstore.New().RunTx(ctx, func(store.Tx) error { called = true; return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, called)
}

// A job's events come back ordered by id, each as written (times as
// stored), and an event written again under its id replaces the first, as
// a Firestore document would; a job without events has an empty list.
func TestEventsRoundTripAndOverwrite(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 123_456_789, time.FixedZone("x", 3600))
	first := store.Event{ID: "00000000000000000002-b", At: at, Stage: "worker", Type: "submitted", Backend: "luma",
		Attempt: 2, Message: "accepted by luma", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	second := store.Event{ID: "00000000000000000001-a", Stage: "ingest", Type: "accepted", Message: "é ✓"}
	again := first
	again.Message = "written again"
	for _, e := range []store.Event{first, second, again} {
		require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.AddEvent("j1", e) }))
	}
	got, err := s.ListEvents(ctx, "j1")
	require.NoError(t, err)
	again.At = store.NormalizeTime(at)
	require.Equal(t, []store.Event{second, again}, got)
	none, err := s.ListEvents(ctx, "j2")
	require.NoError(t, err)
	require.NotNil(t, none)
	require.Empty(t, none)
}
