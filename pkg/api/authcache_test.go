package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/store"
)

// countingStore counts the API key reads of authentication.
type countingStore struct {
	store.Store
	keyReads atomic.Int64
}

func (s *countingStore) GetAPIKey(ctx context.Context, hash string) (store.APIKey, error) {
	s.keyReads.Add(1)
	return s.Store.GetAPIKey(ctx, hash)
}

// countingSetup is setup over a countingStore, with the clock frozen.
func countingSetup(t *testing.T) (*env, *countingStore) {
	t.Helper()
	var cs *countingStore
	e := setup(t, func(c *api.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
	})
	e.clock.freeze()
	return e, cs
}

// TestRefusedKeyCostsOneRead is issue 13 finding 9's negative cache: 100
// requests with the same unknown key cost one store read, not 100; after
// RefusedKeyTTL the key is read again.
func TestRefusedKeyCostsOneRead(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	for range 100 {
		requireError(t, e.do(http.MethodGet, "/v1/jobs", "no-such-key-0123456789", ""), http.StatusUnauthorized, "unauthenticated", "")
	}
	require.EqualValues(t, 1, cs.keyReads.Load())

	e.clock.advance(api.RefusedKeyTTL)
	requireError(t, e.do(http.MethodGet, "/v1/jobs", "no-such-key-0123456789", ""), http.StatusUnauthorized, "unauthenticated", "")
	require.EqualValues(t, 2, cs.keyReads.Load(), "the refusal expired: read again")
}

// TestRefusedRevokedKeyIsCached: a revoked key is refused from memory too.
func TestRefusedRevokedKeyIsCached(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	created := e.createKey("gamma", "")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", created.Key, "").status)
	require.Equal(t, http.StatusOK, e.do(http.MethodDelete, "/v1/admin/projects/gamma/keys/"+created.ID, adminKey, "").status)
	before := cs.keyReads.Load()
	for range 100 {
		requireError(t, e.do(http.MethodGet, "/v1/jobs", created.Key, ""), http.StatusUnauthorized, "unauthenticated", "")
	}
	require.EqualValues(t, 1, cs.keyReads.Load()-before)
}

// TestUsableKeyIsNotCached: only refusals are cached, so a key revoked by
// another instance (straight in the store here) is refused from its next
// request, and every accepted request reads the key.
func TestUsableKeyIsNotCached(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	for range 3 {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", keyA, "").status)
	}
	require.EqualValues(t, 3, cs.keyReads.Load())
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		k, err := tx.GetAPIKey(store.HashAPIKey(keyA))
		if err != nil {
			return err
		}
		k.Revoked = true
		return tx.PutAPIKey(k)
	}))
	requireError(t, e.do(http.MethodGet, "/v1/jobs", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
}

// TestKeyCreatedElsewhereAfterARefusal: a key refused while unknown and
// then created by another instance (seeded straight in the store here)
// works once RefusedKeyTTL has passed, not before: the documented delay
// of a brand new key across instances.
func TestKeyCreatedElsewhereAfterARefusal(t *testing.T) {
	t.Parallel()
	e, _ := countingSetup(t)
	const key = "key-gamma-created-elsewhere-0123456789"
	requireError(t, e.do(http.MethodGet, "/v1/jobs", key, ""), http.StatusUnauthorized, "unauthenticated", "")
	require.NoError(t, api.SeedAPIKey(context.Background(), e.st, key, "gamma", e.clock.Now()))
	requireError(t, e.do(http.MethodGet, "/v1/jobs", key, ""), http.StatusUnauthorized, "unauthenticated", "")
	e.clock.advance(api.RefusedKeyTTL)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", key, "").status)
}
