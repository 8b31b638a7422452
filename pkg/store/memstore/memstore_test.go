package memstore_test

import (
	"context"
	"testing"

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
