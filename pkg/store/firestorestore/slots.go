package firestorestore

import (
	"strconv"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// slotsCollection is the subcollection backends/{name}/slots/{index} of
// concurrency slots (store.Slot), with the waiting marks of the fair share
// beside them in backends/{name}/slots/waiting (store.SlotWaiters): one
// batch get reads both. Its parent document need not exist.
const slotsCollection = "slots"

// waitersDoc is the id of the waiting marks' document, which no slot index
// can take.
const waitersDoc = "waiting"

// slotDoc is backends/{name}/slots/{index}.
type slotDoc struct {
	Holder     string    `firestore:"holder"`
	Project    string    `firestore:"project,omitempty"`
	AcquiredAt time.Time `firestore:"acquired_at"`
	ExpiresAt  time.Time `firestore:"expires_at"`
	// DispatchedAt and ReleasedAt: store.Slot's; absent when zero.
	DispatchedAt time.Time `firestore:"dispatched_at,omitempty"`
	ReleasedAt   time.Time `firestore:"released_at,omitempty"`
}

// slotWaitersDoc is backends/{name}/slots/waiting: project → expiry of its
// mark.
type slotWaitersDoc struct {
	Projects map[string]time.Time `firestore:"projects"`
}

func (s *Store) slotRef(backend string, index int) *firestore.DocumentRef {
	return s.backendRef(backend).Collection(slotsCollection).Doc(strconv.Itoa(index))
}

func (s *Store) slotWaitersRef(backend string) *firestore.DocumentRef {
	return s.backendRef(backend).Collection(slotsCollection).Doc(waitersDoc)
}

func checkSlot(backend string, index int) error {
	if err := checkID("backend", backend); err != nil {
		return err
	}
	if index < 0 {
		return errclass.New(errclass.Permanent, "firestorestore: invalid slot index %d", index)
	}
	return nil
}

func decodeSlot(backend string, index int, snap *firestore.DocumentSnapshot) (store.Slot, error) {
	sl := store.Slot{Backend: backend, Index: index}
	if snap == nil || !snap.Exists() {
		return sl, nil
	}
	var d slotDoc
	if err := snap.DataTo(&d); err != nil {
		return store.Slot{}, classify(err, "decode %s slot %d", backend, index)
	}
	sl.Holder, sl.Project = d.Holder, d.Project
	sl.AcquiredAt, sl.ExpiresAt = store.NormalizeTime(d.AcquiredAt), store.NormalizeTime(d.ExpiresAt)
	sl.DispatchedAt, sl.ReleasedAt = store.NormalizeTime(d.DispatchedAt), store.NormalizeTime(d.ReleasedAt)
	return sl, nil
}

func (t *tx) GetSlots(backend string, n int) ([]store.Slot, error) {
	slots, _, err := t.getSlots(backend, n, false)
	return slots, err
}

func (t *tx) GetSlotsAndWaiters(backend string, n int) ([]store.Slot, store.SlotWaiters, error) {
	return t.getSlots(backend, n, true)
}

// getSlots reads slots 0..n-1 of backend, and its waiting marks if
// waiters, in one batch get.
func (t *tx) getSlots(backend string, n int, waiters bool) ([]store.Slot, store.SlotWaiters, error) {
	if err := t.checkRead(); err != nil {
		return nil, nil, err
	}
	if err := checkSlot(backend, n-1); err != nil {
		return nil, nil, err
	}
	refs := make([]*firestore.DocumentRef, n, n+1)
	for i := range n {
		refs[i] = t.s.slotRef(backend, i)
	}
	if waiters {
		refs = append(refs, t.s.slotWaitersRef(backend))
	}
	snaps, err := t.ft.GetAll(refs)
	if err != nil {
		return nil, nil, classify(err, "get %d slots of %s", n, backend)
	}
	out := make([]store.Slot, n)
	for i := range n {
		if out[i], err = decodeSlot(backend, i, snaps[i]); err != nil {
			return nil, nil, err
		}
	}
	if !waiters {
		return out, nil, nil
	}
	w, err := decodeSlotWaiters(backend, snaps[n])
	return out, w, err
}

func decodeSlotWaiters(backend string, snap *firestore.DocumentSnapshot) (store.SlotWaiters, error) {
	w := store.SlotWaiters{}
	if snap == nil || !snap.Exists() {
		return w, nil
	}
	var d slotWaitersDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, classify(err, "decode the waiting marks of %s", backend)
	}
	for p, until := range d.Projects {
		w[p] = store.NormalizeTime(until)
	}
	return w, nil
}

func (t *tx) GetSlot(backend string, index int) (store.Slot, error) {
	if err := t.checkRead(); err != nil {
		return store.Slot{}, err
	}
	if err := checkSlot(backend, index); err != nil {
		return store.Slot{}, err
	}
	snaps, err := t.ft.GetAll([]*firestore.DocumentRef{t.s.slotRef(backend, index)})
	if err != nil {
		return store.Slot{}, classify(err, "get %s slot %d", backend, index)
	}
	return decodeSlot(backend, index, snaps[0])
}

func (t *tx) PutSlot(sl store.Slot) error {
	if err := t.checkWrite("backend", sl.Backend); err != nil {
		return err
	}
	if err := checkSlot(sl.Backend, sl.Index); err != nil {
		return err
	}
	t.set(t.s.slotRef(sl.Backend, sl.Index),
		slotDoc{Holder: sl.Holder, Project: sl.Project, AcquiredAt: store.NormalizeTime(sl.AcquiredAt), ExpiresAt: store.NormalizeTime(sl.ExpiresAt),
			DispatchedAt: store.NormalizeTime(sl.DispatchedAt), ReleasedAt: store.NormalizeTime(sl.ReleasedAt)})
	return nil
}

func (t *tx) PutSlotWaiters(backend string, w store.SlotWaiters) error {
	if err := t.checkWrite("backend", backend); err != nil {
		return err
	}
	d := slotWaitersDoc{Projects: map[string]time.Time{}}
	for p, until := range w {
		if err := checkID("project", p); err != nil {
			return err
		}
		d.Projects[p] = store.NormalizeTime(until)
	}
	t.set(t.s.slotWaitersRef(backend), d)
	return nil
}
