package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

func testNotifications(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	got, err := s.GetNotifications(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, store.Notifications{ProjectID: "p1"}, got, "absent settings are the zero value")
	all, err := s.ListNotifications(ctx)
	require.NoError(t, err)
	require.Empty(t, all)

	n := store.Notifications{ProjectID: "p1", SlackWebhookURL: "https://hooks.slack.com/services/T/B/x",
		Emails: []string{"ops@example.com"}, SMS: []string{"+15550100"}, Events: []string{"budget.threshold", "job.failed"}, UpdatedAt: t0}
	require.NoError(t, s.PutNotifications(ctx, n))
	require.NoError(t, s.PutNotifications(ctx, store.Notifications{ProjectID: "p0", Events: []string{"dlq.message"}, UpdatedAt: t0}))
	want := n
	want.UpdatedAt = t0.UTC().Truncate(time.Microsecond)
	got, err = s.GetNotifications(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A put replaces: a channel left out is gone.
	n.SlackWebhookURL, n.SMS = "", nil
	require.NoError(t, s.PutNotifications(ctx, n))
	got, err = s.GetNotifications(ctx, "p1")
	require.NoError(t, err)
	require.Empty(t, got.SlackWebhookURL)
	require.Empty(t, got.SMS)
	require.Equal(t, []string{"ops@example.com"}, got.Emails)

	all, err = s.ListNotifications(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, []string{"p0", "p1"}, []string{all[0].ProjectID, all[1].ProjectID}, "by project id")

	require.ErrorIs(t, s.PutNotifications(ctx, store.Notifications{ProjectID: "a/b"}), errclass.Permanent)
}
