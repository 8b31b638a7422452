package memstore

import (
	"maps"
	"strconv"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

func slotKey(backend string, index int) string { return backend + "/" + strconv.Itoa(index) }

// getSlot returns the stored slot, or a free one. The store is locked.
func (s *Store) getSlot(backend string, index int) store.Slot {
	if sl, ok := s.slots[slotKey(backend, index)]; ok {
		return sl
	}
	return store.Slot{Backend: backend, Index: index}
}

func checkSlot(backend string, index int) error {
	if err := checkID("backend", backend); err != nil {
		return err
	}
	if index < 0 {
		return errclass.New(errclass.Permanent, "memstore: invalid slot index %d", index)
	}
	return nil
}

func (t *tx) GetSlots(backend string, n int) ([]store.Slot, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	if err := checkSlot(backend, n-1); err != nil {
		return nil, err
	}
	out := make([]store.Slot, n)
	for i := range n {
		out[i] = t.s.getSlot(backend, i)
	}
	return out, nil
}

func (t *tx) GetSlotsAndWaiters(backend string, n int) ([]store.Slot, store.SlotWaiters, error) {
	slots, err := t.GetSlots(backend, n)
	if err != nil {
		return nil, nil, err
	}
	return slots, maps.Clone(t.s.waiters[backend]), nil
}

func (t *tx) GetSlot(backend string, index int) (store.Slot, error) {
	if err := t.checkRead(); err != nil {
		return store.Slot{}, err
	}
	if err := checkSlot(backend, index); err != nil {
		return store.Slot{}, err
	}
	return t.s.getSlot(backend, index), nil
}

func (t *tx) PutSlot(sl store.Slot) error {
	if err := t.checkWrite("backend", sl.Backend); err != nil {
		return err
	}
	if err := checkSlot(sl.Backend, sl.Index); err != nil {
		return err
	}
	sl.AcquiredAt, sl.ExpiresAt = norm(sl.AcquiredAt), norm(sl.ExpiresAt)
	sl.DispatchedAt, sl.ReleasedAt = norm(sl.DispatchedAt), norm(sl.ReleasedAt)
	t.addWrite(write{apply: func(s *Store) {
		if s.slots == nil {
			s.slots = map[string]store.Slot{}
		}
		s.slots[slotKey(sl.Backend, sl.Index)] = sl
	}})
	return nil
}

func (t *tx) PutSlotWaiters(backend string, w store.SlotWaiters) error {
	if err := t.checkWrite("backend", backend); err != nil {
		return err
	}
	out := store.SlotWaiters{}
	for p, until := range w {
		if err := checkID("project", p); err != nil {
			return err
		}
		out[p] = norm(until)
	}
	t.addWrite(write{apply: func(s *Store) {
		if s.waiters == nil {
			s.waiters = map[string]store.SlotWaiters{}
		}
		s.waiters[backend] = out
	}})
	return nil
}
