package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
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
	require.Equal(t, store.APIKey{Hash: store.HashAPIKey("dev-key"), ProjectID: "dev", CreatedAt: now, Prefix: "d"}, rec, "the first seed is kept")

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

// createKey creates a key of project with the optional body and returns it.
func (e *env) createKey(project, body string) api.CreatedKey {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/admin/projects/"+project+"/keys", adminKey, body)
	require.Equal(e.t, http.StatusCreated, r.status, string(r.body))
	return *decode[api.CreatedKey](e.t, r)
}

// mustServer is a second server (instance) of cfg.
func mustServer(t *testing.T, cfg api.Config) *api.Server {
	s, err := api.New(cfg)
	require.NoError(t, err)
	return s
}

// advance moves the test clock forward by d.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestListKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	created := e.createKey("gamma", `{"expires_in_days": 30}`)
	require.Len(t, created.ID, store.KeyIDLen)
	require.Equal(t, created.Key[:11], created.Prefix)
	require.NotNil(t, created.ExpiresAt)
	require.Equal(t, created.CreatedAt.AddDate(0, 0, 30), *created.ExpiresAt)
	plain := e.createKey("gamma", "")
	require.Nil(t, plain.ExpiresAt)
	e.submit(created.Key) // sets last_used_at

	r := e.do(http.MethodGet, "/v1/admin/projects/gamma/keys", adminKey, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	for _, secret := range []string{created.Key, plain.Key, store.HashAPIKey(created.Key), store.HashAPIKey(plain.Key)} {
		require.NotContains(t, string(r.body), secret, "no key and no hash")
	}
	require.NotContains(t, string(r.body), `"hash"`)
	list := decode[api.KeyList](t, r)
	require.Len(t, list.Keys, 2)
	require.Equal(t, plain.ID, list.Keys[0].ID, "newest first")
	require.Nil(t, list.Keys[0].LastUsedAt)
	k := list.Keys[1]
	require.Equal(t, api.KeyView{ID: created.ID, Prefix: created.Prefix, CreatedAt: created.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: created.ExpiresAt}, k)
	require.NotNil(t, k.LastUsedAt)

	// The exact JSON fields of DESIGN.md.
	var raw map[string][]map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.ElementsMatch(t, []string{"id", "prefix", "created_at", "last_used_at", "expires_at", "revoked"}, slices.Collect(maps.Keys(raw["keys"][0])))

	empty := decode[api.KeyList](t, e.do(http.MethodGet, "/v1/admin/projects/nokeys/keys", adminKey, ""))
	require.NotNil(t, empty.Keys)
	require.Empty(t, empty.Keys)
	requireError(t, e.do(http.MethodGet, "/v1/admin/projects/gamma/keys", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, "/v1/admin/projects/Gamma/keys", adminKey, ""), http.StatusBadRequest, "invalid_request", "project")
}

func TestLastUsedAtWrittenOncePerMinute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	created := e.createKey("gamma", "")
	lastUsed := func() time.Time {
		rec, err := e.st.GetAPIKey(context.Background(), store.HashAPIKey(created.Key))
		require.NoError(t, err)
		return rec.LastUsedAt
	}
	require.True(t, lastUsed().IsZero())
	e.submit(created.Key)
	first := lastUsed()
	require.False(t, first.IsZero())
	e.submit(created.Key) // a second or two later (the clock ticks a second a reading)
	require.Equal(t, first, lastUsed(), "not written again within a minute")
	e.clock.advance(api.LastUsedInterval)
	e.submit(created.Key)
	require.True(t, lastUsed().After(first.Add(api.LastUsedInterval)))
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	created := e.createKey("gamma", "")
	other := e.createKey("delta", "")
	e.submit(created.Key)
	// A second instance over the same store.
	e2 := httptest.NewServer(mustServer(t, e.cfg).Handler())
	t.Cleanup(e2.Close)

	r := e.do(http.MethodDelete, "/v1/admin/projects/gamma/keys/"+created.ID, adminKey, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.KeyView](t, r)
	require.True(t, v.Revoked)
	require.Equal(t, created.ID, v.ID)

	// The very next request fails: here (revoked through this instance, its
	// record dropped from memory) and on a second instance that had not read
	// the key yet.
	requireError(t, e.do(http.MethodPost, "/v1/jobs", created.Key, validBody), http.StatusUnauthorized, "unauthenticated", "")
	req, err := http.NewRequest(http.MethodGet, e2.URL+"/v1/jobs", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+created.Key)
	res, err := e2.Client().Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)

	list := decode[api.KeyList](t, e.do(http.MethodGet, "/v1/admin/projects/gamma/keys", adminKey, ""))
	require.True(t, list.Keys[0].Revoked)
	require.Equal(t, http.StatusOK, e.do(http.MethodDelete, "/v1/admin/projects/gamma/keys/"+created.ID, adminKey, "").status, "idempotent")

	// Another project's key, an unknown id, a hash prefix of another length: 404.
	for _, path := range []string{"gamma/keys/" + other.ID, "gamma/keys/000000000000", "delta/keys/" + created.ID,
		"gamma/keys/" + created.ID[:6], "gamma/keys/" + store.HashAPIKey(created.Key)} {
		requireError(t, e.do(http.MethodDelete, "/v1/admin/projects/"+path, adminKey, ""), http.StatusNotFound, "not_found", "")
	}
	e.submit(other.Key) // untouched
	requireError(t, e.do(http.MethodDelete, "/v1/admin/projects/delta/keys/"+other.ID, keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	require.Contains(t, e.logs.String(), `"key_id":"`+created.ID+`"`)
}

func TestExpiredKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	at := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	created := e.createKey("gamma", `{"expires_at": "`+at+`"}`)
	require.Equal(t, at, created.ExpiresAt.Format(time.RFC3339))
	e.submit(created.Key)
	e.clock.advance(time.Hour)
	requireError(t, e.do(http.MethodPost, "/v1/jobs", created.Key, validBody), http.StatusUnauthorized, "unauthenticated", "")
	list := decode[api.KeyList](t, e.do(http.MethodGet, "/v1/admin/projects/gamma/keys", adminKey, ""))
	require.False(t, list.Keys[0].Revoked, "expired, not revoked")
}

func TestCreateKeyBadExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	past := e.clock.Now().Add(-time.Hour).Format(time.RFC3339)
	for _, tt := range []struct{ body, field string }{
		{`{"expires_in_days": 0}`, "expires_in_days"},
		{`{"expires_in_days": -3}`, "expires_in_days"},
		{`{"expires_in_days": 3651}`, "expires_in_days"},
		{`{"expires_in_days": "7"}`, "expires_in_days"},
		{`{"expires_at": "tomorrow"}`, "expires_at"},
		{`{"expires_at": "` + past + `"}`, "expires_at"},
		{`{"expires_at": "2999-01-01T00:00:00Z"}`, "expires_at"},
		{`{"expires_in_days": 7, "expires_at": "2027-01-01T00:00:00Z"}`, "expires_at"},
		{`{"expires": 7}`, "expires"},
	} {
		requireError(t, e.do(http.MethodPost, "/v1/admin/projects/gamma/keys", adminKey, tt.body), http.StatusBadRequest, "invalid_request", tt.field)
	}
	list := decode[api.KeyList](t, e.do(http.MethodGet, "/v1/admin/projects/gamma/keys", adminKey, ""))
	require.Empty(t, list.Keys, "no key was made")
	require.Nil(t, e.createKey("gamma", "{}").ExpiresAt)
}
