package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/pushauth"
)

// TestPushVerifier: push mode authenticates by OIDC token unless
// AIPROD_PUSH_AUTH=off, which accepts everything and says so in a warning.
func TestPushVerifier(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	v, err := pushVerifier(context.Background(), Config{Push: true, PushAuth: PushAuthOIDC,
		PushAudience: "aud", PushServiceAccount: "push@p.iam.gserviceaccount.com"}, log)
	require.NoError(t, err)
	require.IsType(t, &pushauth.OIDC{}, v)
	require.ErrorIs(t, v.Verify(context.Background(), ""), errclass.Unauthenticated)
	require.NotContains(t, logs.String(), `"level":"WARN"`)

	v, err = pushVerifier(context.Background(), Config{Push: true, PushAuth: PushAuthOff}, log)
	require.NoError(t, err)
	require.NoError(t, v.Verify(context.Background(), ""))
	require.Contains(t, logs.String(), `"level":"WARN"`)
	require.Contains(t, logs.String(), "AIPROD_PUSH_AUTH=off")
}
