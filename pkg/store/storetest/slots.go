package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// testSlots pins the concurrency slots of store/slots.go: acquire up to the
// capacity, re-entry by the same holder, release, renewal, expiry of a
// crashed holder's lease, no over-allocation under concurrency, and the
// fair share between projects (fairshare.go).
func testSlots(t *testing.T, s store.Store) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AcquireUpToCapacity", testSlotAcquireUpToCapacity},
		{"ReleaseByAnotherHolderDoesNothing", testSlotReleaseByAnotherHolderDoesNothing},
		{"ExpiredLeaseIsTakenOver", testSlotExpiredLeaseIsTakenOver},
		{"RenewExtendsTheLease", testSlotRenewExtendsTheLease},
		{"ConcurrentAcquirersNeverExceedCapacity", testSlotConcurrentAcquirersNeverExceedCapacity},
		{"InvalidBackend", testSlotInvalidBackend},
		{"RecordsTheDispatchTime", testSlotRecordsTheDispatchTime},
		{"FullestTableFits", testSlotFullestTableFits},
		// fairshare.go
		{"FairWaitingProjectGetsTheFreedSlot", testFairWaitingProjectGetsTheFreedSlot},
		{"FairHolderWithNothingWaitingHoldsNobodyBack", testFairHolderWithNothingWaiting},
		{"FairFurthestBehindWinsTheNextSlot", testFairFurthestBehindWins},
		{"FairMarkWrittenOnlyWhenHalfExpired", testFairMarkWrittenSparingly},
		{"FairExpiredMarkHoldsNobodyBack", testFairExpiredMark},
		{"FairResumeTakesAnyFreeSlotAndLeavesNoMark", testFairResume},
		{"FairInvalidProject", testFairInvalidProject},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s) })
	}
}

// slotLease is the lease of the slots of testSlots.
const slotLease = time.Minute

// slotClaim claims a slot of backend for holder, of project "p" (alone, a
// project may take every slot).
func slotClaim(backend string, capacity int, holder string) store.SlotClaim {
	return store.SlotClaim{Backend: backend, Capacity: capacity, Holder: holder, Project: "p", Lease: slotLease}
}

// testSlotAcquireUpToCapacity: the capacity bounds the holders of a backend,
// a holder re-enters its own slot, and a release frees it.
func testSlotAcquireUpToCapacity(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, err := store.AcquireSlot(ctx, s, slotClaim("cap-luma", 2, "job-a#1"), t0)
	require.NoError(t, err)
	require.Equal(t, store.Slot{Backend: "cap-luma", Index: 0, Holder: "job-a#1", Project: "p", AcquiredAt: norm(t0), ExpiresAt: norm(t0.Add(slotLease))}, a)
	b, err := store.AcquireSlot(ctx, s, slotClaim("cap-luma", 2, "job-b#1"), t0)
	require.NoError(t, err)
	require.Equal(t, 1, b.Index)

	_, err = store.AcquireSlot(ctx, s, slotClaim("cap-luma", 2, "job-c#1"), t0.Add(time.Second))
	require.ErrorIs(t, err, store.ErrNoFreeSlot)
	require.ErrorIs(t, err, errclass.Conflict)

	// Another backend's slots are separate.
	_, err = store.AcquireSlot(ctx, s, slotClaim("cap-veo", 2, "job-c#1"), t0)
	require.NoError(t, err)

	// The same holder re-enters its slot and renews it.
	later := t0.Add(10 * time.Second)
	again, err := store.AcquireSlot(ctx, s, slotClaim("cap-luma", 2, "job-b#1"), later)
	require.NoError(t, err)
	require.Equal(t, 1, again.Index)
	require.Equal(t, norm(t0), again.AcquiredAt, "re-entry keeps the acquisition time")
	require.Equal(t, norm(later.Add(slotLease)), again.ExpiresAt)

	// A release frees the slot for the next holder.
	require.NoError(t, store.ReleaseSlot(ctx, s, a, later))
	c, err := store.AcquireSlot(ctx, s, slotClaim("cap-luma", 2, "job-c#1"), later)
	require.NoError(t, err)
	require.Equal(t, 0, c.Index)

	slots, _, err := store.ReadSlots(ctx, s, "cap-luma", 3)
	require.NoError(t, err)
	require.Equal(t, []string{"job-c#1", "job-b#1", ""}, holders(slots))
	require.Equal(t, store.Slot{Backend: "cap-luma", Index: 2}, slots[2], "an absent slot is free")
}

// testSlotReleaseByAnotherHolderDoesNothing: a release by another holder
// leaves the slot held.
func testSlotReleaseByAnotherHolderDoesNothing(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, err := store.AcquireSlot(ctx, s, slotClaim("rel-runway", 1, "job-a#1"), t0)
	require.NoError(t, err)
	require.NoError(t, store.ReleaseSlot(ctx, s, store.Slot{Backend: a.Backend, Index: a.Index, Holder: "job-x#1"}, t0))
	_, err = store.AcquireSlot(ctx, s, slotClaim("rel-runway", 1, "job-b#1"), t0)
	require.ErrorIs(t, err, store.ErrNoFreeSlot, "a stranger's release must not free the slot")
	require.NoError(t, store.ReleaseSlot(ctx, s, a, t0))
	require.NoError(t, store.ReleaseSlot(ctx, s, a, t0), "releasing twice is fine")
}

// testSlotExpiredLeaseIsTakenOver: a crashed holder's slot is taken over when
// its lease expires; the crashed holder can then neither renew nor free it.
func testSlotExpiredLeaseIsTakenOver(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	crashed, err := store.AcquireSlot(ctx, s, slotClaim("exp-fal", 1, "job-a#1"), t0)
	require.NoError(t, err)
	_, err = store.AcquireSlot(ctx, s, slotClaim("exp-fal", 1, "job-b#1"), t0.Add(slotLease-time.Second))
	require.ErrorIs(t, err, store.ErrNoFreeSlot, "still leased")

	at := t0.Add(slotLease)
	b, err := store.AcquireSlot(ctx, s, slotClaim("exp-fal", 1, "job-b#1"), at)
	require.NoError(t, err, "the crashed holder's lease expired")
	require.Equal(t, store.Slot{Backend: "exp-fal", Index: 0, Holder: "job-b#1", Project: "p", AcquiredAt: norm(at), ExpiresAt: norm(at.Add(slotLease))}, b)

	// The crashed holder comes back: its slot is gone, renewal says so,
	// and its release does not free the new holder's slot.
	_, err = store.RenewSlot(ctx, s, crashed, at, slotLease)
	require.ErrorIs(t, err, store.ErrSlotLost)
	require.NoError(t, store.ReleaseSlot(ctx, s, crashed, at))
	_, err = store.AcquireSlot(ctx, s, slotClaim("exp-fal", 1, "job-c#1"), at)
	require.ErrorIs(t, err, store.ErrNoFreeSlot)
}

// testSlotRenewExtendsTheLease: renewal moves the lease's end.
func testSlotRenewExtendsTheLease(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, err := store.AcquireSlot(ctx, s, slotClaim("ren-veo", 1, "job-a#1"), t0)
	require.NoError(t, err)
	at := t0.Add(50 * time.Second)
	r, err := store.RenewSlot(ctx, s, a, at, slotLease)
	require.NoError(t, err)
	require.Equal(t, norm(at.Add(slotLease)), r.ExpiresAt)
	require.Equal(t, a.AcquiredAt, r.AcquiredAt)
	_, err = store.AcquireSlot(ctx, s, slotClaim("ren-veo", 1, "job-b#1"), t0.Add(slotLease+time.Second))
	require.ErrorIs(t, err, store.ErrNoFreeSlot, "the renewed lease still holds past the first expiry")
}

// testSlotConcurrentAcquirersNeverExceedCapacity: racing acquirers of
// several projects never share a slot nor exceed the capacity, and fill it.
func testSlotConcurrentAcquirersNeverExceedCapacity(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const capacity, n = 3, 12
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		got    = map[int]string{}
		full   int
		errs   []error
		holder = func(i int) string { return fmt.Sprintf("job-%d#1", i) }
	)
	for i := range n {
		wg.Go(func() {
			var sl store.Slot
			err := retryConflictExcept(store.ErrNoFreeSlot, func() (err error) {
				c := slotClaim("race-luma", capacity, holder(i))
				c.Project = fmt.Sprintf("p%d", i%3) // refusals write waiting marks, racing too
				sl, err = store.AcquireSlot(ctx, s, c, t0)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, store.ErrNoFreeSlot):
				full++
			case err != nil:
				errs = append(errs, err)
			default:
				if prev, taken := got[sl.Index]; taken {
					errs = append(errs, fmt.Errorf("slot %d given to %s and %s", sl.Index, prev, sl.Holder))
				}
				got[sl.Index] = sl.Holder
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, got, capacity)
	require.Equal(t, n-capacity, full)
}

// testSlotRecordsTheDispatchTime: a slot keeps its holder's dispatch time
// (SlotClaim.DispatchedAt) through a re-entry that does not say it, a
// released slot its release time until taken again, a new holder replaces
// both, and ReadSlots returns the slots with the waiting marks.
func testSlotRecordsTheDispatchTime(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	c := slotClaim("disp-fal", 1, "job-a#1")
	c.DispatchedAt = t0.Add(-time.Hour)
	a, err := store.AcquireSlot(ctx, s, c, t0)
	require.NoError(t, err)
	require.Equal(t, norm(t0.Add(-time.Hour)), a.DispatchedAt)
	again, err := store.AcquireSlot(ctx, s, slotClaim("disp-fal", 1, "job-a#1"), t0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, norm(t0.Add(-time.Hour)), again.DispatchedAt, "a re-entry that does not say keeps it")

	refused := slotClaim("disp-fal", 1, "job-b#1")
	refused.Project = "q"
	_, err = store.AcquireSlot(ctx, s, refused, t0.Add(time.Second))
	require.ErrorIs(t, err, store.ErrNoFreeSlot)
	slots, waiters, err := store.ReadSlots(ctx, s, "disp-fal", 1)
	require.NoError(t, err)
	require.Equal(t, []store.Slot{again}, slots)
	require.True(t, waiters.AnyAt(t0.Add(time.Second)), "q's mark")
	require.False(t, waiters.AnyAt(t0.Add(time.Second+store.SlotWaitMarkDefault)), "expired")

	require.NoError(t, store.ReleaseSlot(ctx, s, again, t0.Add(time.Second)))
	slots, _, err = store.ReadSlots(ctx, s, "disp-fal", 1)
	require.NoError(t, err)
	require.Equal(t, []store.Slot{{Backend: "disp-fal", Index: 0, ReleasedAt: norm(t0.Add(time.Second)),
		AcquiredAt: again.AcquiredAt, DispatchedAt: again.DispatchedAt}}, slots,
		"a released slot keeps when it was released and its last holder's times (sweeper.BacklogOf), no holder")
	b, err := store.AcquireSlot(ctx, s, slotClaim("disp-fal", 1, "job-c#1"), t0.Add(2*time.Second))
	require.NoError(t, err)
	require.True(t, b.DispatchedAt.IsZero(), "a new holder that does not say has none")
	require.True(t, b.ReleasedAt.IsZero(), "taken since")
	slots, _, err = store.ReadSlots(ctx, s, "disp-fal", 1)
	require.NoError(t, err)
	require.Equal(t, []store.Slot{b}, slots)
}

// testSlotInvalidBackend: an invalid backend or capacity is a Permanent
// error.
func testSlotInvalidBackend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	err := s.RunTx(ctx, func(tx store.Tx) error { return tx.PutSlotTable(store.SlotTable{Backend: "a/b"}) })
	require.ErrorIs(t, err, errclass.Permanent)
	err = s.RunTx(ctx, func(tx store.Tx) error { _, err := tx.GetSlotTable("a/b"); return err })
	require.ErrorIs(t, err, errclass.Permanent)
	_, err = store.AcquireSlot(ctx, s, slotClaim("ok", 0, "h"), t0)
	require.ErrorIs(t, err, errclass.Permanent, "capacity must be positive")
	_, err = store.AcquireSlot(ctx, s, slotClaim("ok", store.MaxSlots+1, "h"), t0)
	require.ErrorIs(t, err, errclass.Permanent, "capacity beyond MaxSlots")
	err = s.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutSlotTable(store.SlotTable{Backend: "ok", Slots: []store.Slot{{Backend: "ok", Index: 1}}})
	})
	require.ErrorIs(t, err, errclass.Permanent, "slot 1 at position 0")
}

// testSlotFullestTableFits: the largest slot table a backend can have
// (FullestSlotTable) is stored and read back whole: one document, under
// Firestore's 1 MiB; a mark more is refused.
func testSlotFullestTableFits(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	tab := FullestSlotTable("full-fal", t0)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutSlotTable(tab) }))
	var got store.SlotTable
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) (err error) {
		got, err = tx.GetSlotTable(tab.Backend)
		return err
	}))
	require.Equal(t, tab, got)

	tab.Waiters["one-too-many"] = norm(t0)
	err := s.RunTx(ctx, func(tx store.Tx) error { return tx.PutSlotTable(tab) })
	require.ErrorIs(t, err, errclass.Permanent, "more than MaxSlotWaiters marks")
}

// FullestSlotTable is the largest slot table backend can have:
// store.MaxSlots slots, each held by an attempt of a UUID job id with
// every field set and a project id of 63 characters (the longest), and
// store.MaxSlotWaiters marks of such projects; times around at, as
// stored.
func FullestSlotTable(backend string, at time.Time) store.SlotTable {
	longest := func(prefix string, i int) string {
		id := fmt.Sprintf("%s-%d-", prefix, i)
		return id + strings.Repeat("x", 63-len(id))
	}
	at = store.NormalizeTime(at)
	tab := store.SlotTable{Backend: backend, Waiters: store.SlotWaiters{}}
	for i := range store.MaxSlots {
		tab.Slots = append(tab.Slots, store.Slot{Backend: backend, Index: i,
			Holder: fmt.Sprintf("%08d-0000-4000-8000-000000000000#99", i), Project: longest("p", i),
			AcquiredAt: at, ExpiresAt: at.Add(time.Minute), DispatchedAt: at.Add(-time.Hour), ReleasedAt: at.Add(-time.Minute)})
	}
	for i := range store.MaxSlotWaiters {
		tab.Waiters[longest("w", i)] = at.Add(time.Duration(i) * time.Microsecond)
	}
	return tab
}

func holders(slots []store.Slot) []string {
	out := make([]string, len(slots))
	for i, sl := range slots {
		out[i] = sl.Holder
	}
	return out
}

// retryConflictExcept is retryConflict that does not retry except (itself
// a Conflict, but a final answer rather than a lost race).
func retryConflictExcept(except error, fn func() error) error {
	var err error
	for range 50 {
		if err = fn(); !errors.Is(err, errclass.Conflict) || errors.Is(err, except) {
			return err
		}
	}
	return err
}
