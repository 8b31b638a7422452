package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Slot is one concurrency slot of a backend, an entry of its SlotTable. A
// backend whose catalog entry caps concurrent generations at n has slots
// 0..n-1; a worker holds one from before Submit until the attempt's outcome
// is recorded, so at most n generations run at the provider across every
// worker instance.
//
// A slot is held while Holder is set and ExpiresAt is in the future. A
// holder renews its lease while it polls; a crashed holder's slot frees
// itself at ExpiresAt. Holders are attempts ("<job id>#<attempt>"), not
// processes, so a redelivered job re-enters the slot its attempt holds.
// Project is the holder's project, which the fair share counts (see
// fairshare.go); "" on a slot written before slots recorded it.
// DispatchedAt is when the holder's attempt was dispatched, so
// AcquiredAt−DispatchedAt is how long it waited for the slot; ReleasedAt,
// on a free slot, when its last holder released it (zero when never, or
// taken since); a released slot keeps its last holder's AcquiredAt and
// DispatchedAt. The stuck-job sweeper reads them to tell a backlog from a
// lost message (sweeper.BacklogOf); DispatchedAt is zero when the claimant
// did not say.
type Slot struct {
	Backend      string    `json:"backend"`
	Index        int       `json:"index"`
	Holder       string    `json:"holder,omitempty"` // "" when free
	Project      string    `json:"project,omitempty"`
	AcquiredAt   time.Time `json:"acquired_at,omitzero"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	DispatchedAt time.Time `json:"dispatched_at,omitzero"`
	ReleasedAt   time.Time `json:"released_at,omitzero"`
}

// HeldAt reports whether the slot is held at now: it has a holder whose
// lease has not expired.
func (s Slot) HeldAt(now time.Time) bool {
	return s.Holder != "" && now.Before(s.ExpiresAt)
}

// MaxSlots bounds a backend's slots (SlotClaim.Capacity; the catalog's
// concurrency, catalog.MaxConcurrency, stays within it). It keeps a
// SlotTable, one Firestore document, well under Firestore's 1 MiB: a slot
// entry takes at most about 200 bytes (a holder of a UUID job id, a
// project id of up to 63 characters, four timestamps and the field names),
// so 1,000 slots about 200 KB; the waiting marks add at most
// MaxSlotWaiters × 72 bytes (about 300 KB).
const MaxSlots = 1000

// SlotTable is one backend's concurrency slots and the waiting marks of
// its fair share (fairshare.go), stored together as one document
// (backends/{backend}/slots/all in Firestore). An acquisition must see
// every slot, to find a free one and count each project's share, and the
// marks: in one document that is one read whatever the capacity, and a
// release or renewal is one read too. Since every acquisition reads every
// slot, any slot write already conflicted with every concurrent
// acquisition when each slot was a document of its own; keeping them
// together adds no contention there (renewals and releases now also
// conflict with each other; see fairshare.go, "Storage").
type SlotTable struct {
	Backend string
	// Slots[i] is slot i (Backend and Index set). The table holds the
	// slots ever taken, from 0 up: a slot past its end is free.
	Slots []Slot
	// Waiters are the fair share's waiting marks; empty, never nil, as
	// read.
	Waiters SlotWaiters
}

// Slot returns slot i: the stored one, or a free one past the end.
func (t SlotTable) Slot(i int) Slot {
	if i >= 0 && i < len(t.Slots) {
		return t.Slots[i]
	}
	return Slot{Backend: t.Backend, Index: i}
}

// First returns a copy of slots 0..n-1, free ones past the stored end.
func (t SlotTable) First(n int) []Slot {
	out := make([]Slot, max(n, 0))
	for i := range out {
		out[i] = t.Slot(i)
	}
	return out
}

// setSlot stores sl at sl.Index (normalised) in t.Slots, padding with free
// slots up to it. It changes t.Slots' array: t must be the caller's own (a
// table as read in a transaction, which nobody else holds).
func (t *SlotTable) setSlot(sl Slot) {
	for len(t.Slots) <= sl.Index {
		t.Slots = append(t.Slots, Slot{Backend: t.Backend, Index: len(t.Slots)})
	}
	sl.Backend = t.Backend
	t.Slots[sl.Index] = normSlot(sl)
}

// Check returns an errclass.Permanent error unless t can be stored: a
// backend, at most MaxSlots slots, each at its own index and of t's
// backend, and at most MaxSlotWaiters marks. Stores call it in
// PutSlotTable; ids are theirs to check.
func (t SlotTable) Check() error {
	switch {
	case t.Backend == "":
		return errclass.New(errclass.Permanent, "slot table: backend is required")
	case len(t.Slots) > MaxSlots:
		return errclass.New(errclass.Permanent, "slot table of %s: %d slots, at most %d", t.Backend, len(t.Slots), MaxSlots)
	case len(t.Waiters) > MaxSlotWaiters:
		return errclass.New(errclass.Permanent, "slot table of %s: %d waiting marks, at most %d", t.Backend, len(t.Waiters), MaxSlotWaiters)
	}
	for i, sl := range t.Slots {
		if sl.Index != i || sl.Backend != t.Backend {
			return errclass.New(errclass.Permanent, "slot table of %s: entry %d is slot %d of %q", t.Backend, i, sl.Index, sl.Backend)
		}
	}
	return nil
}

// SlotTx is the part of a transaction that reads and writes concurrency
// slots and their waiting marks. Tx embeds it.
type SlotTx interface {
	// GetSlotTable reads backend's slots and waiting marks: one document,
	// whatever the number of slots. Absent is an empty table (Backend set,
	// Waiters empty), never NotFound. The table is the caller's own: its
	// Slots and Waiters are shared with nothing.
	GetSlotTable(backend string) (SlotTable, error)
	// PutSlotTable replaces t.Backend's table with t (times normalised);
	// t must pass Check and the marks' projects be valid ids.
	PutSlotTable(t SlotTable) error
}

// ErrNoFreeSlot is returned by AcquireSlot when no slot can be taken: every
// slot is held, or the free ones belong to projects below their fair share.
// It is an errclass.Conflict: the state forbids the operation for now.
var ErrNoFreeSlot = errclass.New(errclass.Conflict, "no free concurrency slot")

// ErrSlotLost is returned by RenewSlot when the slot is no longer held by
// the caller (its lease expired and another holder took it). It is an
// errclass.Conflict.
var ErrSlotLost = errclass.New(errclass.Conflict, "concurrency slot lost")

// SlotClaim asks AcquireSlot for one of a backend's concurrency slots.
type SlotClaim struct {
	Backend  string        // the backend whose slot is claimed
	Capacity int           // its number of slots (catalog concurrency); > 0
	Holder   string        // the attempt: "<job id>#<attempt>"
	Project  string        // the holder's project, the unit of the fair share
	Lease    time.Duration // the slot is held until now+Lease; > 0
	// Resume claims a slot for a generation already running at the
	// provider, or looks up the holder's own: any free slot is taken, fair
	// share aside, and a refusal leaves no waiting mark.
	Resume bool
	// MarkTTL is how long the waiting mark of a refused claim lasts: a few
	// times the longest pause between the claimant's tries. 0:
	// SlotWaitMarkDefault.
	MarkTTL time.Duration
	// DispatchedAt is when the holder's attempt was dispatched (its
	// started_at), recorded on the slot it takes (Slot.DispatchedAt). Zero:
	// unknown; a re-entry keeps what the slot has.
	DispatchedAt time.Time
}

// AcquireSlot takes one of c.Backend's slots for c.Holder until
// now+c.Lease, in one transaction (one read of the backend's SlotTable;
// one write). A slot the holder already holds is renewed and returned
// (re-entrant, always allowed); otherwise a free or expired slot is taken
// if the fair share allows it (fairshare.go). It returns an error wrapping
// ErrNoFreeSlot when none can be taken; unless c.Resume, the project's
// waiting mark is then kept fresh (written only when absent or half
// expired).
func AcquireSlot(ctx context.Context, s Store, c SlotClaim, now time.Time) (Slot, error) {
	if c.Capacity <= 0 || c.Capacity > MaxSlots || c.Holder == "" || c.Project == "" || c.Lease <= 0 {
		return Slot{}, errclass.New(errclass.Permanent,
			"acquire slot of %s: capacity (1 to %d), holder, project and lease are required", c.Backend, MaxSlots)
	}
	ttl := cmp.Or(max(c.MarkTTL, 0), SlotWaitMarkDefault)
	now = NormalizeTime(now) // as stored: a mark's remaining life is exact
	var (
		out     Slot
		refused error
	)
	err := s.RunTx(ctx, func(tx Tx) error {
		tab, err := tx.GetSlotTable(c.Backend)
		if err != nil {
			return err
		}
		pick, why := pickSlot(tab, c, now)
		if refused = why; why != nil {
			if c.Resume {
				return nil
			}
			if w, write := tab.Waiters.marked(c.Project, now, ttl); write {
				tab.Waiters = w
				return tx.PutSlotTable(tab) // committed; the claim still fails
			}
			return nil
		}
		sl := tab.Slot(pick)
		if sl.Holder != c.Holder || !sl.HeldAt(now) {
			sl.AcquiredAt = now
		}
		if !c.DispatchedAt.IsZero() || sl.Holder != c.Holder {
			sl.DispatchedAt = c.DispatchedAt
		}
		sl.Holder, sl.Project = c.Holder, c.Project
		sl.ExpiresAt, sl.ReleasedAt = now.Add(c.Lease), time.Time{}
		tab.setSlot(sl)
		out = tab.Slot(pick)
		return tx.PutSlotTable(tab)
	})
	if err == nil && refused != nil {
		err = refused
	}
	if err != nil {
		return Slot{}, fmt.Errorf("acquire a %s slot for %s: %w", c.Backend, c.Holder, err)
	}
	return out, nil
}

// pickSlot returns the index of the slot claim c takes among the first
// c.Capacity slots of tab, or an error wrapping ErrNoFreeSlot saying why
// none.
func pickSlot(tab SlotTable, c SlotClaim, now time.Time) (int, error) {
	free := -1
	held := map[string]int{}
	for i := range c.Capacity {
		sl := tab.Slot(i)
		if sl.Holder == c.Holder {
			return i, nil
		}
		switch {
		case sl.HeldAt(now):
			held[sl.Project]++
		case free < 0:
			free = i
		}
	}
	switch {
	case free < 0:
		return -1, ErrNoFreeSlot
	case c.Resume:
		return free, nil
	case !mayTake(c.Capacity, held, tab.Waiters.waitingAt(now), c.Project):
		return -1, fmt.Errorf("%w that project %s may take: it holds %d of %d while other projects wait with less",
			ErrNoFreeSlot, c.Project, held[c.Project], c.Capacity)
	}
	return free, nil
}

// RenewSlot extends sl's lease to now+lease if sl.Holder still holds it (an
// expired lease not yet taken by another holder is renewed too). Otherwise
// it returns an error wrapping ErrSlotLost.
func RenewSlot(ctx context.Context, s Store, sl Slot, now time.Time, lease time.Duration) (Slot, error) {
	out, err := updateHeldSlot(ctx, s, sl, ErrSlotLost, func(cur Slot) Slot {
		cur.ExpiresAt = now.Add(lease)
		return normSlot(cur)
	})
	if err != nil {
		return Slot{}, fmt.Errorf("renew %s slot %d of %s: %w", sl.Backend, sl.Index, sl.Holder, err)
	}
	return out, nil
}

// ReleaseSlot frees sl at now if sl.Holder still holds it (the slot keeps
// ReleasedAt = now and its holder's AcquiredAt and DispatchedAt); releasing a slot held by another holder, or
// already free, does nothing and is not an error.
func ReleaseSlot(ctx context.Context, s Store, sl Slot, now time.Time) error {
	errNothing := errors.New("nothing to release")
	_, err := updateHeldSlot(ctx, s, sl, errNothing, func(cur Slot) Slot {
		return normSlot(Slot{Backend: sl.Backend, Index: sl.Index, ReleasedAt: now,
			AcquiredAt: cur.AcquiredAt, DispatchedAt: cur.DispatchedAt})
	})
	if err != nil && !errors.Is(err, errNothing) {
		return fmt.Errorf("release %s slot %d of %s: %w", sl.Backend, sl.Index, sl.Holder, err)
	}
	return nil
}

// updateHeldSlot writes update(current state of sl) in one transaction if
// sl.Holder still holds the slot, and returns what it wrote; otherwise it
// returns notHeld.
func updateHeldSlot(ctx context.Context, s Store, sl Slot, notHeld error, update func(cur Slot) Slot) (Slot, error) {
	if sl.Index < 0 || sl.Index >= MaxSlots {
		return Slot{}, notHeld // no such slot: nobody holds it
	}
	var out Slot
	err := s.RunTx(ctx, func(tx Tx) error {
		tab, err := tx.GetSlotTable(sl.Backend)
		if err != nil {
			return err
		}
		if tab.Slot(sl.Index).Holder != sl.Holder {
			return notHeld
		}
		tab.setSlot(update(tab.Slot(sl.Index)))
		out = tab.Slot(sl.Index)
		return tx.PutSlotTable(tab)
	})
	return out, err
}

func normSlot(s Slot) Slot {
	s.AcquiredAt = NormalizeTime(s.AcquiredAt)
	s.ExpiresAt = NormalizeTime(s.ExpiresAt)
	s.DispatchedAt = NormalizeTime(s.DispatchedAt)
	s.ReleasedAt = NormalizeTime(s.ReleasedAt)
	return s
}

// ReadSlots reads slots 0..n-1 of backend and its waiting marks, in a
// transaction that writes nothing (one read of its SlotTable).
func ReadSlots(ctx context.Context, s Store, backend string, n int) ([]Slot, SlotWaiters, error) {
	var tab SlotTable
	err := s.RunTx(ctx, func(tx Tx) (err error) {
		tab, err = tx.GetSlotTable(backend)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the %d slots of %s: %w", n, backend, err)
	}
	return tab.First(n), tab.Waiters, nil
}
