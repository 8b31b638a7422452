package webhooksecrets_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/webhook"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

func setup(t *testing.T) (*webhooksecrets.Keyring, *memstore.Store, *sim.ManualClock) {
	t.Helper()
	box, err := secretbox.Parse(secretbox.NewKey())
	require.NoError(t, err)
	st := memstore.New()
	c := sim.NewManualClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	k, err := webhooksecrets.New(webhooksecrets.Config{Store: st, Box: box, Now: c.Now})
	require.NoError(t, err)
	return k, st, c
}

func stored(t *testing.T, st store.Store, project string) store.WebhookSecret {
	t.Helper()
	var rec store.WebhookSecret
	require.NoError(t, st.RunTx(context.Background(), func(tx store.Tx) (err error) {
		rec, err = tx.GetWebhookSecret(project)
		return err
	}))
	return rec
}

// TestRotationOverlap: after a rotation, webhooks carry two signatures (the
// new secret's first) for 24 h, and one after; a receiver holding either
// secret verifies them during the overlap.
func TestRotationOverlap(t *testing.T) {
	t.Parallel()
	k, _, c := setup(t)
	ctx := context.Background()
	first, err := k.Rotate(ctx, "acme")
	require.NoError(t, err)
	require.NoError(t, webhook.ParseSecret(first))
	got, err := k.Signing(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{first}, got, "a first rotation has nothing to overlap")

	rotated := c.Now().Add(time.Hour)
	c.Advance(rotated.Sub(c.Now()))
	second, err := k.Rotate(ctx, "acme")
	require.NoError(t, err)
	require.NotEqual(t, first, second)

	body := []byte(`{"type":"job.succeeded"}`)
	for _, step := range []struct {
		after time.Duration
		want  []string
	}{
		{0, []string{second, first}},
		{24*time.Hour - time.Second, []string{second, first}},
		{24 * time.Hour, []string{second}},
		{48 * time.Hour, []string{second}},
	} {
		at := rotated.Add(step.after)
		c.Advance(at.Sub(c.Now()))
		got, err := k.Signing(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, step.want, got, "at rotation + %s", step.after)

		h := http.Header{}
		require.NoError(t, webhook.SetHeaders(h, "msg_1", at, body, got...))
		require.Len(t, strings.Fields(h.Get(webhook.HeaderSignature)), len(step.want))
		for _, s := range step.want {
			require.NoError(t, webhook.Verifier{Secret: s, Now: func() time.Time { return at }}.Verify(h, body))
		}
	}
}

// TestRotateWithinOverlapDropsTheOlderSecret: three rotations in a row
// leave the last two.
func TestRotateWithinOverlapDropsTheOlderSecret(t *testing.T) {
	t.Parallel()
	k, _, _ := setup(t)
	ctx := context.Background()
	var secrets []string
	for range 3 {
		s, err := k.Rotate(ctx, "acme")
		require.NoError(t, err)
		secrets = append(secrets, s)
	}
	got, err := k.Signing(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{secrets[2], secrets[1]}, got)
}

// TestLazySecret: a project that never rotated gets one secret, the same
// for every concurrent caller, stored sealed.
func TestLazySecret(t *testing.T) {
	t.Parallel()
	k, st, _ := setup(t)
	ctx := context.Background()
	results := make([][]string, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			s, err := k.Signing(ctx, "lazy")
			require.NoError(t, err)
			results[i] = s
		})
	}
	wg.Wait()
	for _, r := range results {
		require.Len(t, r, 1)
		require.Equal(t, results[0], r)
	}
	rec := stored(t, st, "lazy")
	require.NotContains(t, rec.Current, strings.TrimPrefix(results[0][0], webhook.SecretPrefix), "stored sealed")
	require.Empty(t, rec.Previous)
}

// TestSecretsNeverInErrorsOrLogs: the stored form is sealed, a wrong key
// fails without showing the secret or the key, and nothing of the secret
// reaches the log of a caller that logs the error.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	k, st, c := setup(t)
	ctx := context.Background()
	secret, err := k.Rotate(ctx, "acme")
	require.NoError(t, err)
	key := strings.TrimPrefix(secret, webhook.SecretPrefix)
	rec := stored(t, st, "acme")
	require.NotContains(t, rec.Current, key)

	otherKey := secretbox.NewKey()
	box, err := secretbox.Parse(otherKey)
	require.NoError(t, err)
	wrong, err := webhooksecrets.New(webhooksecrets.Config{Store: st, Box: box, Now: c.Now})
	require.NoError(t, err)
	_, err = wrong.Signing(ctx, "acme")
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorIs(t, err, secretbox.ErrOpen)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Error("signing failed", "error", err)
	for _, s := range []string{key, otherKey, rec.Current} {
		require.NotContains(t, logs.String(), s)
	}
}
