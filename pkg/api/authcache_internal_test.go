package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRefusedKeys covers the negative cache's own rules: a refusal lasts
// its TTL, forget ends it at once (a key created on this instance), and
// at most size refusals are kept, the least recently used dropped first.
func TestRefusedKeys(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := newRefusedKeys(5*time.Second, 3)
	require.False(t, c.has("a", now))
	c.add("a", now)
	require.True(t, c.has("a", now.Add(4999*time.Millisecond)))
	require.False(t, c.has("a", now.Add(5*time.Second)), "expired")
	require.False(t, c.has("a", now), "an expired refusal is dropped")

	c.add("b", now)
	c.forget("b")
	require.False(t, c.has("b", now), "forgotten: created here")

	for i := range 10 {
		c.add(fmt.Sprint("k", i), now)
	}
	require.Equal(t, 3, c.entries.Len(), "bounded")
	require.True(t, c.has("k9", now))
	require.False(t, c.has("k6", now), "the oldest went first")
}
