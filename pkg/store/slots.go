package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Slot is one concurrency slot of a backend: backends/{backend}/slots/{index}
// in Firestore. A backend whose catalog entry caps concurrent generations at
// n has slots 0..n-1; a worker holds one from before Submit until the
// attempt's outcome is recorded, so at most n generations run at the
// provider across every worker instance.
//
// A slot is held while Holder is set and ExpiresAt is in the future. A
// holder renews its lease while it polls; a crashed holder's slot frees
// itself at ExpiresAt. Holders are attempts ("<job id>#<attempt>"), not
// processes, so a redelivered job re-enters the slot its attempt holds.
type Slot struct {
	Backend    string    `json:"backend"`
	Index      int       `json:"index"`
	Holder     string    `json:"holder,omitempty"` // "" when free
	AcquiredAt time.Time `json:"acquired_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}

// HeldAt reports whether the slot is held at now: it has a holder whose
// lease has not expired.
func (s Slot) HeldAt(now time.Time) bool {
	return s.Holder != "" && now.Before(s.ExpiresAt)
}

// SlotTx is the part of a transaction that reads and writes concurrency
// slots. Tx embeds it.
type SlotTx interface {
	// GetSlots reads slots 0..n-1 of backend in one round trip. Absent slots
	// come back free, with Backend and Index set; never NotFound.
	GetSlots(backend string, n int) ([]Slot, error)
	// GetSlot reads one slot; absent is free, as for GetSlots.
	GetSlot(backend string, index int) (Slot, error)
	// PutSlot writes a slot (its time fields normalised).
	PutSlot(s Slot) error
}

// ErrNoFreeSlot is returned by AcquireSlot when every slot is held. It is
// an errclass.Conflict: the state forbids the operation for now.
var ErrNoFreeSlot = errclass.New(errclass.Conflict, "no free concurrency slot")

// ErrSlotLost is returned by RenewSlot when the slot is no longer held by
// the caller (its lease expired and another holder took it). It is an
// errclass.Conflict.
var ErrSlotLost = errclass.New(errclass.Conflict, "concurrency slot lost")

// AcquireSlot takes one of backend's capacity slots for holder until
// now+lease, in one transaction. A slot holder already holds is renewed
// and returned (re-entrant); otherwise the first free or expired slot is
// taken. It returns an error wrapping ErrNoFreeSlot when every slot is
// held by someone else. capacity must be positive.
func AcquireSlot(ctx context.Context, s Store, backend string, capacity int, holder string, now time.Time, lease time.Duration) (Slot, error) {
	if capacity <= 0 || holder == "" || lease <= 0 {
		return Slot{}, errclass.New(errclass.Permanent, "acquire slot of %s: capacity, holder and lease are required", backend)
	}
	var out Slot
	err := s.RunTx(ctx, func(tx Tx) error {
		slots, err := tx.GetSlots(backend, capacity)
		if err != nil {
			return err
		}
		pick := -1
		for i, sl := range slots {
			if sl.Holder == holder {
				pick = i
				break
			}
			if pick < 0 && !sl.HeldAt(now) {
				pick = i
			}
		}
		if pick < 0 {
			return ErrNoFreeSlot
		}
		sl := slots[pick]
		if sl.Holder != holder || !sl.HeldAt(now) {
			sl.AcquiredAt = now
		}
		sl.Backend, sl.Index, sl.Holder = backend, pick, holder
		sl.ExpiresAt = now.Add(lease)
		sl = normSlot(sl)
		if err := tx.PutSlot(sl); err != nil {
			return err
		}
		out = sl
		return nil
	})
	if err != nil {
		return Slot{}, fmt.Errorf("acquire a %s slot for %s: %w", backend, holder, err)
	}
	return out, nil
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

// ReleaseSlot frees sl if sl.Holder still holds it; releasing a slot held by
// another holder, or already free, does nothing and is not an error.
func ReleaseSlot(ctx context.Context, s Store, sl Slot) error {
	errNothing := errors.New("nothing to release")
	_, err := updateHeldSlot(ctx, s, sl, errNothing, func(Slot) Slot {
		return Slot{Backend: sl.Backend, Index: sl.Index}
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
	var out Slot
	err := s.RunTx(ctx, func(tx Tx) error {
		cur, err := tx.GetSlot(sl.Backend, sl.Index)
		if err != nil {
			return err
		}
		if cur.Holder != sl.Holder {
			return notHeld
		}
		out = update(cur)
		return tx.PutSlot(out)
	})
	return out, err
}

func normSlot(s Slot) Slot {
	s.AcquiredAt = NormalizeTime(s.AcquiredAt)
	s.ExpiresAt = NormalizeTime(s.ExpiresAt)
	return s
}
