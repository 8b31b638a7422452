package firestoreemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A document that is no longer written keeps its superseded versions only
// for the retention: pruneAll (run every half retention) drops them, the
// current version stays.
func TestPruneAllDropsOldVersions(t *testing.T) {
	t.Parallel()
	st := newStore()
	Retention(time.Minute)(st)
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	now := t0
	st.now = func() time.Time { return now }
	const name = "projects/p/databases/(default)/documents/jobs/j1"
	for i := range 6 {
		st.mu.Lock()
		st.installLocked("projects/p/databases/(default)", name, &version{at: t0.Add(time.Duration(i) * time.Second)})
		st.mu.Unlock()
	}
	h := st.historyLocked("projects/p/databases/(default)", name)
	require.Len(t, h.versions, 6, "written within the retention: all kept")
	st.pruneAll()
	require.Len(t, h.versions, 6, "nothing older than the retention yet")
	now = t0.Add(2 * time.Minute)
	st.pruneAll()
	require.Len(t, h.versions, 1, "the current version only")
	require.Equal(t, t0.Add(5*time.Second), h.latest().at)
}
