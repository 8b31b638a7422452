package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/webhook"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

// TestRotateWebhookSecret: the admin route returns a new whsec_ secret once
// (no-store, never logged), and the notifier's keyring then signs with it
// and the previous one.
func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	box, err := secretbox.Parse(secretbox.NewKey())
	require.NoError(t, err)
	var ring *webhooksecrets.Keyring
	e := setup(t, func(c *api.Config) {
		ring, err = webhooksecrets.New(webhooksecrets.Config{Store: c.Store, Box: box, Now: time.Now})
		require.NoError(t, err)
		c.WebhookSecrets = ring
	})
	const path = "/v1/admin/projects/gamma/webhook-secret"
	r := e.do(http.MethodPost, path, adminKey, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	first := decode[api.RotatedSecret](t, r).Secret
	require.NoError(t, webhook.ParseSecret(first))
	require.JSONEq(t, `{"secret":"`+first+`"}`, string(r.body), "exactly DESIGN's shape")

	second := decode[api.RotatedSecret](t, e.do(http.MethodPost, path, adminKey, "")).Secret
	require.NotEqual(t, first, second)
	got, err := ring.Signing(context.Background(), "gamma")
	require.NoError(t, err)
	require.Equal(t, []string{second, first}, got)
	for _, s := range []string{first, second} {
		require.NotContains(t, e.logs.String(), strings.TrimPrefix(s, webhook.SecretPrefix), "never logged")
	}

	// Admin only, and the project is checked.
	requireError(t, e.do(http.MethodPost, path, keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodPost, "/v1/admin/projects/Gamma/webhook-secret", adminKey, ""), http.StatusBadRequest, "invalid_request", "project")
	requireError(t, e.do(http.MethodGet, path, adminKey, ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
}

// TestRotateWebhookSecretUnconfigured: without a keyring the route is a 404
// that names the missing variable.
func TestRotateWebhookSecretUnconfigured(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := requireError(t, e.do(http.MethodPost, "/v1/admin/projects/gamma/webhook-secret", adminKey, ""), http.StatusNotFound, "not_found", "")
	require.Contains(t, d.Message, "AIPROD_SECRETS_KEY")
}
