package store

import (
	"context"
	"time"
)

// DLQReplay is the recorded outcome of one request to replay dead letters
// (package deadletter, "Replay requests"): the router writes it once the
// replay is done, and the admin API that asked waits for it.
type DLQReplay struct {
	// ID is the request's id (the document id).
	ID string
	// Subscription is the dead-letter subscription replayed.
	Subscription string
	// Replayed are the messages republished, in order.
	Replayed []ReplayedLetter
	// NotFound are the ids asked for that were not found.
	NotFound []string
	// Error says why the replay failed or stopped (after Replayed); "" when
	// it did not.
	Error string
	// CreatedAt is when the outcome was recorded.
	CreatedAt time.Time
}

// ReplayedLetter is one replayed message: its id on the dead-letter
// subscription and the topic it was published to.
type ReplayedLetter struct {
	ID    string
	Topic string
}

// DLQReplays records the outcomes of dead-letter replay requests.
type DLQReplays interface {
	// CreateDLQReplay records r once: errclass.Conflict when an outcome
	// with r.ID exists (the first one stays), errclass.Permanent for an id
	// that cannot name a document.
	CreateDLQReplay(ctx context.Context, r DLQReplay) error
	// GetDLQReplay returns the outcome recorded for id; errclass.NotFound
	// when there is none (yet).
	GetDLQReplay(ctx context.Context, id string) (DLQReplay, error)
}
