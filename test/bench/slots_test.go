package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/store"
)

// TestSlotOpsDoNotGrowWithCapacity: taking, renewing and releasing one of
// a backend's concurrency slots each cost one Firestore read and one
// write, however many slots the backend has (1,000 here): the slots and
// the waiting marks are one document (store.SlotTable). A refused claim
// reads that document and writes its project's waiting mark.
func TestSlotOpsDoNotGrowWithCapacity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := countedFirestore(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	claim := store.SlotClaim{Backend: "wide", Capacity: store.MaxSlots, Project: "p", Lease: time.Minute}
	full := store.SlotTable{Backend: claim.Backend} // every slot but the last held
	for i := range store.MaxSlots - 1 {
		full.Slots = append(full.Slots, store.Slot{Backend: claim.Backend, Index: i, Holder: fmt.Sprintf("filler-%d#1", i),
			Project: "p", AcquiredAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error { return tx.PutSlotTable(full) }))
	want := func(what string, reads, writes int) {
		t.Helper()
		r, w, _ := c.reset()
		require.Equal(t, map[string]int{"backends/slots": reads}, r, "%s: reads", what)
		require.Equal(t, map[string]int{"backends/slots": writes}, w, "%s: writes", what)
	}
	c.reset()

	claim.Holder = "job#1"
	sl, err := store.AcquireSlot(ctx, st, claim, now)
	require.NoError(t, err)
	require.Equal(t, store.MaxSlots-1, sl.Index)
	want("acquire", 1, 1)

	_, err = store.RenewSlot(ctx, st, sl, now.Add(time.Second), time.Minute)
	require.NoError(t, err)
	want("renew", 1, 1)

	claim.Holder, claim.Project = "job#2", "q"
	_, err = store.AcquireSlot(ctx, st, claim, now)
	require.ErrorIs(t, err, store.ErrNoFreeSlot)
	want("refused", 1, 1)

	require.NoError(t, store.ReleaseSlot(ctx, st, sl, now.Add(2*time.Second)))
	want("release", 1, 1)
}
