package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

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

// TestUsableKeyCostsOneRead: 100 requests with one usable key cost one
// store read of it, not 100; after ValidKeyTTL it is read again.
func TestUsableKeyCostsOneRead(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	for range 100 {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", keyA, "").status)
	}
	require.EqualValues(t, 1, cs.keyReads.Load())

	e.clock.advance(api.ValidKeyTTL)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", keyA, "").status)
	require.EqualValues(t, 2, cs.keyReads.Load(), "the record's time in memory ended: read again")
}

// TestKeyRevokedElsewhereRefusedWithinTTL: a key revoked by another
// instance (straight in the store here) keeps working here only until
// ValidKeyTTL after this instance last read it, so at most ValidKeyTTL
// (5 s, DESIGN.md) after its revocation; then it is refused, and the
// refusal is cached.
func TestKeyRevokedElsewhereRefusedWithinTTL(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", keyA, "").status)
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		k, err := tx.GetAPIKey(store.HashAPIKey(keyA))
		if err != nil {
			return err
		}
		k.Revoked = true
		return tx.PutAPIKey(k)
	}))
	e.clock.advance(api.ValidKeyTTL - time.Millisecond)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", keyA, "").status, "within the bound: from memory")
	e.clock.advance(time.Millisecond)
	requireError(t, e.do(http.MethodGet, "/v1/jobs", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, "/v1/jobs", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	require.EqualValues(t, 2, cs.keyReads.Load(), "one read when first used, one when the record's time ended")
}

// TestCachedKeyExpiresOnTime: a key kept in memory is refused from its
// expires_at on, without waiting for ValidKeyTTL nor reading it again.
func TestCachedKeyExpiresOnTime(t *testing.T) {
	t.Parallel()
	e, cs := countingSetup(t)
	expires := e.clock.Now().Truncate(time.Second).Add(2 * time.Second)
	created := e.createKey("gamma", `{"expires_at":"`+expires.Format(time.RFC3339)+`"}`)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/jobs", created.Key, "").status)
	reads := cs.keyReads.Load()
	e.clock.advance(2 * time.Second) // past expires_at, within ValidKeyTTL
	requireError(t, e.do(http.MethodGet, "/v1/jobs", created.Key, ""), http.StatusUnauthorized, "unauthenticated", "")
	require.Equal(t, reads, cs.keyReads.Load(), "refused on the record in memory")
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
