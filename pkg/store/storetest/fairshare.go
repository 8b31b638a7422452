package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// The testFair... cases (run by testSlots) pin the fair share of a
// backend's slots between projects with work waiting (store/fairshare.go).

// fairMarkTTL is the waiting marks' lifetime in the testFair... cases.
const fairMarkTTL = 10 * time.Second

// fairBackend is one backend's slots, claimed at a settable time.
type fairBackend struct {
	t        *testing.T
	ctx      context.Context
	s        store.Store
	name     string
	capacity int
	now      time.Time
	n        int // holders made so far
}

func newFairBackend(t *testing.T, s store.Store, name string, capacity int) *fairBackend {
	return &fairBackend{t: t, ctx: ctxOf(t), s: s, name: name, capacity: capacity, now: t0}
}

// claim claims a slot for a new attempt of project (holder "" makes one).
func (b *fairBackend) claim(project, holder string, resume bool) (store.Slot, error) {
	if holder == "" {
		b.n++
		holder = fmt.Sprintf("%s-job-%d#1", project, b.n)
	}
	c := store.SlotClaim{Backend: b.name, Capacity: b.capacity, Holder: holder, Project: project,
		Lease: time.Hour, Resume: resume, MarkTTL: fairMarkTTL}
	var sl store.Slot
	err := retryConflictExcept(store.ErrNoFreeSlot, func() (err error) {
		sl, err = store.AcquireSlot(b.ctx, b.s, c, b.now)
		return err
	})
	return sl, err
}

// take claims slots for n new attempts of project and requires them all.
func (b *fairBackend) take(project string, n int) []store.Slot {
	b.t.Helper()
	out := make([]store.Slot, n)
	for i := range n {
		sl, err := b.claim(project, "", false)
		require.NoError(b.t, err, "%s's claim %d", project, i+1)
		require.Equal(b.t, project, sl.Project)
		out[i] = sl
	}
	return out
}

// refused requires a new attempt of project to get no slot.
func (b *fairBackend) refused(project, why string) {
	b.t.Helper()
	_, err := b.claim(project, "", false)
	require.ErrorIs(b.t, err, store.ErrNoFreeSlot, why)
	require.ErrorIs(b.t, err, errclass.Conflict)
}

func (b *fairBackend) release(sl store.Slot) {
	b.t.Helper()
	require.NoError(b.t, store.ReleaseSlot(b.ctx, b.s, sl, b.now))
}

// state reads the slots and the waiting marks.
func (b *fairBackend) state() ([]store.Slot, store.SlotWaiters) {
	b.t.Helper()
	slots, w, err := store.ReadSlots(b.ctx, b.s, b.name, b.capacity)
	require.NoError(b.t, err)
	return slots, w
}

// held counts the slots each project holds.
func (b *fairBackend) held() map[string]int {
	b.t.Helper()
	slots, _ := b.state()
	out := map[string]int{}
	for _, sl := range slots {
		if sl.HeldAt(b.now) {
			out[sl.Project]++
		}
	}
	return out
}

// testFairWaitingProjectGetsTheFreedSlot: a lone project fills every slot;
// once another project waits, the slots its generations free go to that
// project, not back to the first, until both hold their share; a holder
// still re-enters its own slot.
func testFairWaitingProjectGetsTheFreedSlot(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-luma", 4)
	a := b.take("a", 4) // alone: every slot (work-conserving)
	b.refused("a", "every slot held")
	b.refused("b", "every slot held")
	_, w := b.state()
	require.Equal(t, store.SlotWaiters{"a": norm(b.now.Add(fairMarkTTL)), "b": norm(b.now.Add(fairMarkTTL))}, w,
		"each refused project left a waiting mark")

	b.now = b.now.Add(time.Second)
	again, err := b.claim("a", a[0].Holder, false)
	require.NoError(t, err, "a holder re-enters its own slot, whoever waits")
	require.Equal(t, a[0].Index, again.Index)

	b.release(a[0])
	b.refused("a", "b waits with 0 of its share of 2: a (3 held) may not retake the slot")
	got := b.take("b", 1)[0]
	require.Equal(t, a[0].Index, got.Index)

	b.release(a[1])
	b.refused("a", "b still below its share")
	b.take("b", 1)
	require.Equal(t, map[string]int{"a": 2, "b": 2}, b.held())

	b.release(a[2])
	b.take("a", 1) // a is below its share again
	require.Equal(t, map[string]int{"a": 2, "b": 2}, b.held())
	b.refused("b", "every slot held")
}

// testFairHolderWithNothingWaiting: a project that holds slots but has
// never been refused does not keep another from the free ones.
func testFairHolderWithNothingWaiting(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-veo", 4)
	b.take("b", 1)
	b.take("a", 3)
	require.Equal(t, map[string]int{"a": 3, "b": 1}, b.held())
	b.refused("c", "every slot held")
}

// testFairFurthestBehindWins: with 7 slots and three waiting projects, a
// project below ⌊7/3⌋ gets the next free slot ahead of one at ⌊7/3⌋ (both
// are below ⌈7/3⌉).
func testFairFurthestBehindWins(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-fal", 7)
	b.take("p", 1)
	q1 := b.take("q1", 3)
	b.take("q2", 3)
	for _, p := range []string{"p", "q1", "q2"} {
		b.refused(p, "every slot held")
	}
	b.release(q1[0])
	b.refused("q1", "q1 holds ⌊7/3⌋ = 2 while p waits with 1")
	b.refused("q2", "q2 holds ⌈7/3⌉ = 3 while p waits with 1")
	b.take("p", 1)
	require.Equal(t, map[string]int{"p": 2, "q1": 2, "q2": 3}, b.held())
}

// testFairMarkWrittenSparingly: a waiting mark is rewritten only once less
// than half its lifetime is left, and a rewrite drops the expired marks.
func testFairMarkWrittenSparingly(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-runway", 1)
	b.take("a", 1)
	b.refused("old", "full")
	b.now = b.now.Add(fairMarkTTL)
	b.refused("b", "full")
	first := norm(b.now.Add(fairMarkTTL))
	_, w := b.state()
	require.Equal(t, store.SlotWaiters{"b": first}, w, "old's expired mark dropped when b's was written")

	b.now = b.now.Add(fairMarkTTL / 2)
	b.refused("b", "full")
	_, w = b.state()
	require.Equal(t, first, w["b"], "half the lifetime left: not rewritten")

	b.now = b.now.Add(time.Millisecond)
	b.refused("b", "full")
	_, w = b.state()
	require.Equal(t, norm(b.now.Add(fairMarkTTL)), w["b"], "less than half left: renewed")
}

// testFairExpiredMark: a project whose mark expired (it stopped asking)
// no longer holds the others at their share.
func testFairExpiredMark(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-pika", 2)
	a := b.take("a", 2)
	b.refused("b", "full")
	b.release(a[0])
	b.refused("a", "b waits below its share")
	b.now = b.now.Add(fairMarkTTL)
	b.take("a", 1)
	b.refused("b", "full again")
}

// testFairResume: a generation already running takes any free slot, fair
// share aside, and a refused resume leaves no waiting mark.
func testFairResume(t *testing.T, s store.Store) {
	b := newFairBackend(t, s, "fair-kling", 2)
	a := b.take("a", 2)
	_, err := b.claim("z", "", true)
	require.ErrorIs(t, err, store.ErrNoFreeSlot)
	_, w := b.state()
	require.Empty(t, w, "a refused resume leaves no mark")

	b.refused("b", "full")
	b.release(a[0])
	b.refused("a", "b waits with nothing")
	sl, err := b.claim("a", "", true)
	require.NoError(t, err, "a running generation takes the free slot")
	require.Equal(t, a[0].Index, sl.Index)
}

// testFairInvalidProject: a claim needs a project, and marks need valid
// project ids.
func testFairInvalidProject(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := store.AcquireSlot(ctx, s, store.SlotClaim{Backend: "fair-x", Capacity: 1, Holder: "h#1", Lease: time.Minute}, t0)
	require.ErrorIs(t, err, errclass.Permanent, "no project")
	err = s.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutSlotTable(store.SlotTable{Backend: "fair-x", Waiters: store.SlotWaiters{"a/b": t0}})
	})
	require.ErrorIs(t, err, errclass.Permanent)
}
