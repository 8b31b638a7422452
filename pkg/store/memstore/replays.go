package memstore

import (
	"context"
	"slices"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// CreateDLQReplay records r unless an outcome with its id exists; see
// store.DLQReplays.
func (s *Store) CreateDLQReplay(ctx context.Context, r store.DLQReplay) error {
	if err := checkID("dlq replay", r.ID); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.replays[r.ID]; ok {
		return errclass.New(errclass.Conflict, "memstore: dlq replay %s exists", r.ID)
	}
	s.replays[r.ID] = copyReplay(r)
	return nil
}

// GetDLQReplay returns the outcome recorded for id; see store.DLQReplays.
func (s *Store) GetDLQReplay(ctx context.Context, id string) (store.DLQReplay, error) {
	if err := s.lock(ctx); err != nil {
		return store.DLQReplay{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.replays[id]
	if !ok {
		return store.DLQReplay{}, errclass.New(errclass.NotFound, "memstore: dlq replay %s not found", id)
	}
	return copyReplay(r), nil
}

func copyReplay(r store.DLQReplay) store.DLQReplay {
	r.Replayed = slices.Clone(r.Replayed)
	r.NotFound = slices.Clone(r.NotFound)
	r.CreatedAt = store.NormalizeTime(r.CreatedAt)
	return r
}
