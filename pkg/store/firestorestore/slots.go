package firestorestore

import (
	"strconv"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// slotsCollection is the subcollection backends/{name}/slots/{index} of
// concurrency slots (store.Slot). Its parent document need not exist.
const slotsCollection = "slots"

// slotDoc is backends/{name}/slots/{index}.
type slotDoc struct {
	Holder     string    `firestore:"holder"`
	AcquiredAt time.Time `firestore:"acquired_at"`
	ExpiresAt  time.Time `firestore:"expires_at"`
}

func (s *Store) slotRef(backend string, index int) *firestore.DocumentRef {
	return s.backendRef(backend).Collection(slotsCollection).Doc(strconv.Itoa(index))
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
	sl.Holder = d.Holder
	sl.AcquiredAt, sl.ExpiresAt = store.NormalizeTime(d.AcquiredAt), store.NormalizeTime(d.ExpiresAt)
	return sl, nil
}

func (t *tx) GetSlots(backend string, n int) ([]store.Slot, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	if err := checkSlot(backend, n-1); err != nil {
		return nil, err
	}
	refs := make([]*firestore.DocumentRef, n)
	for i := range n {
		refs[i] = t.s.slotRef(backend, i)
	}
	snaps, err := t.ft.GetAll(refs)
	if err != nil {
		return nil, classify(err, "get %d slots of %s", n, backend)
	}
	out := make([]store.Slot, n)
	for i := range n {
		if out[i], err = decodeSlot(backend, i, snaps[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
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
		slotDoc{Holder: sl.Holder, AcquiredAt: store.NormalizeTime(sl.AcquiredAt), ExpiresAt: store.NormalizeTime(sl.ExpiresAt)})
	return nil
}
