package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

func TestCreateKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", adminKey, "")
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	created := decode[api.CreatedKey](t, r)
	require.Equal(t, "gamma", created.ProjectID)
	require.True(t, strings.HasPrefix(created.Key, api.APIKeyPrefix), created.Key)
	require.GreaterOrEqual(t, len(created.Key), len(api.APIKeyPrefix)+43)
	require.False(t, created.CreatedAt.IsZero())

	// Only the hash is stored.
	sum := sha256.Sum256([]byte(created.Key))
	rec, err := e.st.GetAPIKey(context.Background(), hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	require.Equal(t, "gamma", rec.ProjectID)
	require.NotContains(t, rec.Hash, created.Key)
	_, err = e.st.GetAPIKey(context.Background(), created.Key)
	require.ErrorIs(t, err, errclass.NotFound)
	require.NotContains(t, e.logs.String(), created.Key, "the key is never logged")

	// The new key works, for its project only.
	j := e.submit(created.Key)
	require.Equal(t, "gamma", j.ProjectID)
	requireError(t, e.do(http.MethodGet, "/v1/jobs/"+j.ID, keyA, ""), http.StatusNotFound, "not_found", "")

	// Each call makes another key.
	again := decode[api.CreatedKey](t, e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", adminKey, ""))
	require.NotEqual(t, created.Key, again.Key)

	for _, tt := range []struct{ name, key, project string }{
		{"upper case", adminKey, "Gamma"},
		{"leading dash", adminKey, "-gamma"},
		{"underscore", adminKey, "gam_ma"},
		{"too long", adminKey, strings.Repeat("g", 64)},
	} {
		requireError(t, e.do(http.MethodPost, "/v1/admin/projects/"+tt.project+"/keys", tt.key, ""), http.StatusBadRequest, "invalid_request", "project")
	}
	requireError(t, e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

func TestRevokedKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	err := e.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutAPIKey(store.APIKey{Hash: store.HashAPIKey(keyA), ProjectID: projectA, Revoked: true})
	})
	require.NoError(t, err)
	requireError(t, e.do(http.MethodPost, "/v1/jobs", keyA, validBody), http.StatusUnauthorized, "unauthenticated", "")
	require.Empty(t, e.jobsOf(projectA))
}

func TestSeedAPIKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	require.NoError(t, api.SeedAPIKey(ctx, st, "dev-key", "dev", now))
	require.NoError(t, api.SeedAPIKey(ctx, st, "dev-key", "dev", now.Add(time.Hour)), "idempotent")
	rec, err := st.GetAPIKey(ctx, store.HashAPIKey("dev-key"))
	require.NoError(t, err)
	require.Equal(t, store.APIKey{Hash: store.HashAPIKey("dev-key"), ProjectID: "dev", CreatedAt: now}, rec, "the first seed is kept")

	require.ErrorIs(t, api.SeedAPIKey(ctx, st, "dev-key", "other", now), errclass.Conflict)
	require.ErrorIs(t, api.SeedAPIKey(ctx, st, "", "dev", now), errclass.Permanent)
	require.ErrorIs(t, api.SeedAPIKey(ctx, st, "k", "Not Valid", now), errclass.Permanent)

	// A revoked key stays revoked.
	require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error {
		rec.Revoked = true
		return tx.PutAPIKey(rec)
	}))
	require.NoError(t, api.SeedAPIKey(ctx, st, "dev-key", "dev", now))
	rec, err = st.GetAPIKey(ctx, store.HashAPIKey("dev-key"))
	require.NoError(t, err)
	require.True(t, rec.Revoked)
}
