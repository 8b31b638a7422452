package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// testWebhooks pins store/webhooks.go: absent secrets and deliveries are
// NotFound, what is written reads back whole with normalised times, a
// failed transaction writes nothing, and bad ids are refused.
func testWebhooks(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	err := s.RunTx(ctx, func(tx store.Tx) error {
		_, err := tx.GetWebhookSecret("hooks-acme")
		require.ErrorIs(t, err, errclass.NotFound)
		_, err = tx.GetWebhookDelivery("msg_absent")
		require.ErrorIs(t, err, errclass.NotFound)
		_, err = tx.GetWebhookDelivery("a/b")
		require.ErrorIs(t, err, errclass.NotFound, "an id that names no document is absent")
		return nil
	})
	require.NoError(t, err)

	sec := store.WebhookSecret{ProjectID: "hooks-acme", Current: "v1:cur", Previous: "v1:prev",
		PreviousUntil: t0.Add(24 * time.Hour), RotatedAt: t0}
	del := store.WebhookDelivery{ID: "msg_0123abcd", JobID: "job-1", ProjectID: "hooks-acme", EventType: "job.succeeded",
		Attempts: 2, FirstAttemptAt: t0, NextAttemptAt: t0.Add(5 * time.Minute), LeaseUntil: t0.Add(20 * time.Second),
		Outcome: store.WebhookPending, LastStatus: 500, LastError: "500 Internal Server Error", UpdatedAt: t0}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		require.NoError(t, tx.PutWebhookSecret(sec))
		return tx.PutWebhookDelivery(del)
	}))
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetWebhookSecret("hooks-acme")
		require.NoError(t, err)
		require.Equal(t, store.NormWebhookSecret(sec), got)
		require.Equal(t, time.UTC, got.RotatedAt.Location())
		gotD, err := tx.GetWebhookDelivery(del.ID)
		require.NoError(t, err)
		require.Equal(t, store.NormWebhookDelivery(del), gotD)
		return nil
	}))

	// A secret without a previous one, and a final delivery without a
	// lease, read back with zero values.
	sec2 := store.WebhookSecret{ProjectID: "hooks-acme", Current: "v1:new", RotatedAt: t0.Add(time.Hour)}
	del.Outcome, del.LeaseUntil, del.Attempts = store.WebhookDelivered, time.Time{}, 3
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		require.NoError(t, tx.PutWebhookSecret(sec2))
		return tx.PutWebhookDelivery(del)
	}))
	// A failed transaction writes nothing.
	require.ErrorIs(t, s.RunTx(ctx, func(tx store.Tx) error {
		require.NoError(t, tx.PutWebhookSecret(sec))
		return errclass.New(errclass.Conflict, "abandon")
	}), errclass.Conflict)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetWebhookSecret("hooks-acme")
		require.NoError(t, err)
		require.Equal(t, store.NormWebhookSecret(sec2), got)
		gotD, err := tx.GetWebhookDelivery(del.ID)
		require.NoError(t, err)
		require.Equal(t, store.NormWebhookDelivery(del), gotD)
		require.True(t, gotD.Outcome.Final())
		return nil
	}))

	for _, put := range []func(tx store.Tx) error{
		func(tx store.Tx) error { return tx.PutWebhookSecret(store.WebhookSecret{ProjectID: ""}) },
		func(tx store.Tx) error { return tx.PutWebhookDelivery(store.WebhookDelivery{ID: "a/b"}) },
	} {
		require.ErrorIs(t, s.RunTx(ctx, put), errclass.Permanent)
	}
}
