package firestorestore

import (
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/store"
)

// slotTableRef is backends/{name}/slots/all: the backend's concurrency
// slots and the waiting marks of their fair share (store.SlotTable), one
// document, so that an acquisition reads one document whatever the
// capacity. Its parent document need not exist. (Before, each slot was a
// document backends/{name}/slots/{index} and the marks
// backends/{name}/slots/waiting; nothing reads those any more.)
func (s *Store) slotTableRef(backend string) *firestore.DocumentRef {
	return s.backendRef(backend).Collection("slots").Doc("all")
}

// slotTableDoc is backends/{name}/slots/all: slot i at slots[i], and
// project → expiry of its waiting mark. At most store.MaxSlots slots of
// about 200 bytes each and store.MaxSlotWaiters marks of 72: about 500 KB
// at most, under Firestore's 1 MiB.
type slotTableDoc struct {
	Slots   []slotEntry          `firestore:"slots"`
	Waiting map[string]time.Time `firestore:"waiting"`
}

// slotEntry is one store.Slot in slotTableDoc: Backend and Index are the
// document's and the position's; every field is absent when zero (a
// released slot keeps released_at alone).
type slotEntry struct {
	Holder       string    `firestore:"holder,omitempty"`
	Project      string    `firestore:"project,omitempty"`
	AcquiredAt   time.Time `firestore:"acquired_at,omitempty"`
	ExpiresAt    time.Time `firestore:"expires_at,omitempty"`
	DispatchedAt time.Time `firestore:"dispatched_at,omitempty"`
	ReleasedAt   time.Time `firestore:"released_at,omitempty"`
}

func (t *tx) GetSlotTable(backend string) (store.SlotTable, error) {
	if err := t.checkRead(); err != nil {
		return store.SlotTable{}, err
	}
	if err := checkID("backend", backend); err != nil {
		return store.SlotTable{}, err
	}
	snaps, err := t.ft.GetAll([]*firestore.DocumentRef{t.s.slotTableRef(backend)})
	if err != nil {
		return store.SlotTable{}, classify(err, "get the slots of %s", backend)
	}
	tab := store.SlotTable{Backend: backend, Waiters: store.SlotWaiters{}}
	if !snaps[0].Exists() {
		return tab, nil
	}
	var d slotTableDoc
	if err := snaps[0].DataTo(&d); err != nil {
		return store.SlotTable{}, classify(err, "decode the slots of %s", backend)
	}
	tab.Slots = make([]store.Slot, len(d.Slots))
	for i, e := range d.Slots {
		tab.Slots[i] = store.Slot{Backend: backend, Index: i, Holder: e.Holder, Project: e.Project,
			AcquiredAt: store.NormalizeTime(e.AcquiredAt), ExpiresAt: store.NormalizeTime(e.ExpiresAt),
			DispatchedAt: store.NormalizeTime(e.DispatchedAt), ReleasedAt: store.NormalizeTime(e.ReleasedAt)}
	}
	for p, until := range d.Waiting {
		tab.Waiters[p] = store.NormalizeTime(until)
	}
	return tab, nil
}

func (t *tx) PutSlotTable(tab store.SlotTable) error {
	if err := t.checkWrite("backend", tab.Backend); err != nil {
		return err
	}
	d, err := encodeSlotTable(tab)
	if err != nil {
		return err
	}
	t.set(t.s.slotTableRef(tab.Backend), d)
	return nil
}

// encodeSlotTable is the document of tab, once tab passes its Check and
// the marks' projects are valid ids.
func encodeSlotTable(tab store.SlotTable) (slotTableDoc, error) {
	if err := tab.Check(); err != nil {
		return slotTableDoc{}, err
	}
	d := slotTableDoc{Slots: make([]slotEntry, len(tab.Slots)), Waiting: map[string]time.Time{}}
	for i, sl := range tab.Slots {
		d.Slots[i] = slotEntry{Holder: sl.Holder, Project: sl.Project,
			AcquiredAt: store.NormalizeTime(sl.AcquiredAt), ExpiresAt: store.NormalizeTime(sl.ExpiresAt),
			DispatchedAt: store.NormalizeTime(sl.DispatchedAt), ReleasedAt: store.NormalizeTime(sl.ReleasedAt)}
	}
	for p, until := range tab.Waiters {
		if err := checkID("project", p); err != nil {
			return slotTableDoc{}, err
		}
		d.Waiting[p] = store.NormalizeTime(until)
	}
	return d, nil
}
