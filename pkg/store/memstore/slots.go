package memstore

import (
	"maps"
	"slices"

	"github.com/aiprod/aiprod/pkg/store"
)

// GetSlotTable returns a copy of backend's slot table, as Firestore keeps
// it: one document per backend (store.SlotTable).
func (t *tx) GetSlotTable(backend string) (store.SlotTable, error) {
	if err := t.checkRead(); err != nil {
		return store.SlotTable{}, err
	}
	if err := checkID("backend", backend); err != nil {
		return store.SlotTable{}, err
	}
	tab := t.s.slots[backend]
	out := store.SlotTable{Backend: backend, Slots: slices.Clone(tab.Slots), Waiters: store.SlotWaiters{}}
	maps.Copy(out.Waiters, tab.Waiters)
	return out, nil
}

func (t *tx) PutSlotTable(tab store.SlotTable) error {
	if err := t.checkWrite("backend", tab.Backend); err != nil {
		return err
	}
	if err := tab.Check(); err != nil {
		return err
	}
	out := store.SlotTable{Backend: tab.Backend, Slots: make([]store.Slot, len(tab.Slots)), Waiters: store.SlotWaiters{}}
	for i, sl := range tab.Slots {
		sl.AcquiredAt, sl.ExpiresAt = norm(sl.AcquiredAt), norm(sl.ExpiresAt)
		sl.DispatchedAt, sl.ReleasedAt = norm(sl.DispatchedAt), norm(sl.ReleasedAt)
		out.Slots[i] = sl
	}
	for p, until := range tab.Waiters {
		if err := checkID("project", p); err != nil {
			return err
		}
		out.Waiters[p] = norm(until)
	}
	t.addWrite(write{apply: func(s *Store) {
		if s.slots == nil {
			s.slots = map[string]store.SlotTable{}
		}
		s.slots[out.Backend] = out
	}})
	return nil
}
