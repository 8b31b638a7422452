package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMayTake(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		capacity int
		held     map[string]int
		waiting  []string
		project  string
		want     bool
	}{
		{"alone takes every slot", 4, map[string]int{"a": 3}, []string{"a"}, "a", true},
		{"over the share while another waits with less", 4, map[string]int{"a": 3}, []string{"a", "b"}, "a", false},
		{"at the share while another waits below it", 4, map[string]int{"a": 2, "b": 1}, []string{"b"}, "a", false},
		{"the waiting project below its share", 4, map[string]int{"a": 3}, []string{"a", "b"}, "b", true},
		{"every waiting project has its share", 4, map[string]int{"a": 2, "b": 2}, []string{"b"}, "a", true},
		{"a holder with nothing waiting holds nobody back", 4, map[string]int{"a": 2, "b": 1}, nil, "a", true},
		{"below the floor: always", 7, map[string]int{"p": 1, "q": 0, "r": 3}, []string{"q", "r"}, "p", true},
		{"at the floor while another waits below it", 7, map[string]int{"p": 1, "q": 2, "r": 3}, []string{"p", "r"}, "q", false},
		{"at the floor, every waiting one at the floor", 7, map[string]int{"p": 2, "q": 2, "r": 2}, []string{"p", "r"}, "q", true},
		{"at the share while another is below it", 7, map[string]int{"p": 2, "q": 2, "r": 3}, []string{"p", "q"}, "r", false},
		{"more projects than slots: one each first", 2, map[string]int{"a": 1}, []string{"b", "c"}, "a", false},
		{"more projects than slots: a project with none", 2, map[string]int{"a": 1}, []string{"b", "c"}, "c", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			waiting := map[string]bool{}
			for _, p := range tt.waiting {
				waiting[p] = true
			}
			require.Equal(t, tt.want, mayTake(tt.capacity, tt.held, waiting, tt.project))
		})
	}
}

func TestSlotWaitersMarked(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Second
	w := SlotWaiters{"a": now.Add(6 * time.Second), "gone": now, "b": now.Add(time.Second)}

	got, write := w.marked("a", now, ttl)
	require.False(t, write, "more than half the lifetime left")
	require.Equal(t, w, got)

	got, write = w.marked("b", now, ttl)
	require.True(t, write, "less than half left")
	require.Equal(t, SlotWaiters{"a": now.Add(6 * time.Second), "b": now.Add(ttl)}, got, "expired marks dropped")
	require.Equal(t, now.Add(time.Second), w["b"], "the receiver is not changed")

	got, write = SlotWaiters(nil).marked("c", now, ttl)
	require.True(t, write, "absent")
	require.Equal(t, SlotWaiters{"c": now.Add(ttl)}, got)
	require.Equal(t, map[string]bool{"a": true, "b": true}, w.waitingAt(now))
}

// TestSlotWaitersMarkedBounded: a backend keeps at most MaxSlotWaiters
// marks, so that its SlotTable stays under Firestore's document size; a
// project refused beyond them leaves none, until one expires.
func TestSlotWaitersMarkedBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Second
	full := SlotWaiters{}
	for i := range MaxSlotWaiters {
		full[fmt.Sprintf("p%d", i)] = now.Add(ttl / 4)
	}
	got, write := full.marked("late", now, ttl)
	require.False(t, write, "no room")
	require.Len(t, got, MaxSlotWaiters)

	got, write = full.marked("p0", now, ttl)
	require.True(t, write, "a marked project still refreshes its mark")
	require.Equal(t, now.Add(ttl), got["p0"])

	full["p1"] = now // expired: room for one
	got, write = full.marked("late", now, ttl)
	require.True(t, write)
	require.Len(t, got, MaxSlotWaiters)
	require.Contains(t, got, "late")
	require.NotContains(t, got, "p1")
}
