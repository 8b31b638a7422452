package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKeyCache covers the authentication caches' own rules: an entry lasts
// its TTL, update keeps its expiry, forget ends it at once (a key created
// or revoked on this instance), and at most size entries are kept, the
// least recently used dropped first.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := newKeyCache[int](5*time.Second, 3)
	_, ok := c.get("a", now)
	require.False(t, ok)
	c.add("a", 1, now)
	v, ok := c.get("a", now.Add(4999*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, 1, v)
	c.update("a", 2)
	v, _ = c.get("a", now.Add(4999*time.Millisecond))
	require.Equal(t, 2, v, "updated")
	_, ok = c.get("a", now.Add(5*time.Second))
	require.False(t, ok, "expired, update or not")
	_, ok = c.get("a", now)
	require.False(t, ok, "an expired entry is dropped")
	c.update("a", 3)
	_, ok = c.get("a", now)
	require.False(t, ok, "update does not bring an entry back")

	c.add("b", 1, now)
	c.forget("b")
	_, ok = c.get("b", now)
	require.False(t, ok, "forgotten")

	for i := range 10 {
		c.add(fmt.Sprint("k", i), i, now)
	}
	require.Equal(t, 3, c.entries.Len(), "bounded")
	_, ok = c.get("k9", now)
	require.True(t, ok)
	_, ok = c.get("k6", now)
	require.False(t, ok, "the oldest went first")
}
