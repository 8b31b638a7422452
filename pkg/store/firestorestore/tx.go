package firestorestore

import (
	"context"
	"errors"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// RunTx runs fn in a Firestore transaction (Client.RunTransaction): fn may
// run several times if Firestore aborts it. fn's own error is returned as
// is and nothing is written; failures of Firestore are classified.
func (s *Store) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := s.c.RunTransaction(ctx, func(_ context.Context, ft *firestore.Transaction) error {
		t := &tx{s: s, ft: ft}
		defer func() { t.done = true }()
		if err := fn(t); err != nil {
			return &fnError{err}
		}
		if t.readAfterWrite {
			return errReadAfterWrite
		}
		for _, w := range t.writes {
			if err := w(ft); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*fnError](err); ok {
		return fe.err
	}
	return classify(err, "firestore transaction")
}

// fnError marks an error returned by RunTx's fn, to give it back untouched.
// It unwraps so that the client still retries when fn passes on an Aborted
// read.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

var (
	errReadAfterWrite = errclass.New(errclass.Permanent, "firestorestore: read after write in a transaction")
	errTxDone         = errclass.New(errclass.Permanent, "firestorestore: transaction used after RunTx returned")
)

// tx reads through the Firestore transaction and buffers writes until fn
// returns nil.
type tx struct {
	s              *Store
	ft             *firestore.Transaction
	writes         []func(ft *firestore.Transaction) error
	readAfterWrite bool
	done           bool
}

var _ store.Tx = (*tx)(nil)

func (t *tx) checkRead() error {
	if t.done {
		return errTxDone
	}
	if len(t.writes) > 0 {
		t.readAfterWrite = true
		return errReadAfterWrite
	}
	return nil
}

func (t *tx) checkWrite(what, id string) error {
	if t.done {
		return errTxDone
	}
	return checkID(what, id)
}

// set buffers a write of d to ref, replacing any document there.
func (t *tx) set(ref *firestore.DocumentRef, d any) {
	t.writes = append(t.writes, func(ft *firestore.Transaction) error { return ft.Set(ref, d) })
}

// create buffers a write of d to ref that fails the transaction if the
// document exists.
func (t *tx) create(ref *firestore.DocumentRef, d any) {
	t.writes = append(t.writes, func(ft *firestore.Transaction) error { return ft.Create(ref, d) })
}

func (t *tx) GetJob(id string) (*job.Job, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, errclass.New(errclass.NotFound, "job %s not found", id)
	}
	snap, err := t.ft.Get(t.s.jobRef(id))
	if err != nil {
		return nil, classify(err, "get job %s", id)
	}
	return decodeJob(snap)
}

func (t *tx) CreateJob(j *job.Job) error { return t.writeJob(j, t.create) }

func (t *tx) PutJob(j *job.Job) error { return t.writeJob(j, t.set) }

// writeJob buffers a write of j (a copy, its times normalised) with write:
// t.create or t.set.
func (t *tx) writeJob(j *job.Job, write func(ref *firestore.DocumentRef, d any)) error {
	if err := t.checkWrite("job", j.ID); err != nil {
		return err
	}
	c := j.Clone()
	store.NormalizeTimes(c)
	write(t.s.jobRef(c.ID), toJobDoc(c))
	return nil
}

func (t *tx) GetBackend(name string) (store.BackendState, error) {
	if err := t.checkRead(); err != nil {
		return store.BackendState{}, err
	}
	if !validID(name) {
		return store.BackendState{Name: name}, nil
	}
	snap, err := t.ft.Get(t.s.backendRef(name))
	if status.Code(err) == codes.NotFound {
		return store.BackendState{Name: name}, nil
	}
	if err != nil {
		return store.BackendState{}, classify(err, "get backend %s", name)
	}
	var d backendDoc
	if err := snap.DataTo(&d); err != nil {
		return store.BackendState{}, classify(err, "decode backend %s", name)
	}
	return fromBackendDoc(name, d), nil
}

func (t *tx) PutBackend(b store.BackendState) error {
	if err := t.checkWrite("backend", b.Name); err != nil {
		return err
	}
	t.set(t.s.backendRef(b.Name), toBackendDoc(b))
	return nil
}

func (t *tx) AddEvent(jobID string, e store.Event) error {
	if err := t.checkWrite("job", jobID); err != nil {
		return err
	}
	e.At = store.NormalizeTime(e.At)
	if e.ID == "" {
		at := e.At
		if at.IsZero() {
			at = timeNow()
		}
		e.ID = store.NewEventID(at)
	}
	if err := checkID("event", e.ID); err != nil {
		return err
	}
	t.set(t.s.eventsRef(jobID).Doc(e.ID), toEventDoc(e))
	return nil
}

func (t *tx) GetAPIKey(hash string) (store.APIKey, error) {
	if err := t.checkRead(); err != nil {
		return store.APIKey{}, err
	}
	if !validID(hash) {
		return store.APIKey{}, errclass.New(errclass.NotFound, "api key not found")
	}
	snap, err := t.ft.Get(t.s.apiKeyRef(hash))
	if err != nil {
		return store.APIKey{}, classify(err, "get api key")
	}
	return decodeAPIKey(snap)
}

func (t *tx) PutAPIKey(k store.APIKey) error {
	if err := t.checkWrite("api key hash", k.Hash); err != nil {
		return err
	}
	t.set(t.s.apiKeyRef(k.Hash), toAPIKeyDoc(k))
	return nil
}
