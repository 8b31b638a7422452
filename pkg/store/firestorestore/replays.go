package firestorestore

import (
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// dlqReplaysCollection holds dlqreplays/{request id}.
const dlqReplaysCollection = "dlqreplays"

// ReplayRetention is how long the outcome of a dead-letter replay is kept
// (expire_at, Firestore's TTL policy; indexes.json): the admin API that
// asked reads it within a minute.
const ReplayRetention = 7 * 24 * time.Hour

// dlqReplayDoc is dlqreplays/{id}.
type dlqReplayDoc struct {
	Subscription string              `firestore:"subscription"`
	Replayed     []replayedLetterDoc `firestore:"replayed"`
	NotFound     []string            `firestore:"not_found"`
	Error        string              `firestore:"error,omitempty"`
	CreatedAt    time.Time           `firestore:"created_at"`
	ExpireAt     time.Time           `firestore:"expire_at"`
}

type replayedLetterDoc struct {
	ID    string `firestore:"id"`
	Topic string `firestore:"topic"`
}

// CreateDLQReplay records r unless an outcome with its id exists; see
// store.DLQReplays.
func (s *Store) CreateDLQReplay(ctx context.Context, r store.DLQReplay) error {
	if err := checkID("dlq replay", r.ID); err != nil {
		return err
	}
	d := dlqReplayDoc{Subscription: r.Subscription, NotFound: r.NotFound, Error: r.Error,
		CreatedAt: store.NormalizeTime(r.CreatedAt), ExpireAt: store.NormalizeTime(r.CreatedAt).Add(ReplayRetention)}
	for _, l := range r.Replayed {
		d.Replayed = append(d.Replayed, replayedLetterDoc(l))
	}
	if _, err := s.c.Collection(dlqReplaysCollection).Doc(r.ID).Create(ctx, d); err != nil {
		return classify(err, "create dlq replay %s", r.ID)
	}
	return nil
}

// GetDLQReplay returns the outcome recorded for id; see store.DLQReplays.
func (s *Store) GetDLQReplay(ctx context.Context, id string) (store.DLQReplay, error) {
	if !validID(id) {
		return store.DLQReplay{}, errclass.New(errclass.NotFound, "dlq replay not found")
	}
	snap, err := s.c.Collection(dlqReplaysCollection).Doc(id).Get(ctx)
	if err != nil {
		return store.DLQReplay{}, classify(err, "get dlq replay %s", id)
	}
	var d dlqReplayDoc
	if err := snap.DataTo(&d); err != nil {
		return store.DLQReplay{}, classify(err, "decode dlq replay %s", id)
	}
	r := store.DLQReplay{ID: id, Subscription: d.Subscription, NotFound: d.NotFound, Error: d.Error,
		CreatedAt: store.NormalizeTime(d.CreatedAt)}
	for _, l := range d.Replayed {
		r.Replayed = append(r.Replayed, store.ReplayedLetter(l))
	}
	return r, nil
}
