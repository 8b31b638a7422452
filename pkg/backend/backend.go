// Package backend is AIPROD's port to a video generation provider.
//
// A Backend submits a generation, polls it and cancels it. Its Handle is an
// opaque string the adapter can rebuild its state from (a task id, or a JSON
// object with status and result URLs): the worker records it in the store
// right after Submit returns, so that any worker instance, after any crash,
// resumes polling instead of submitting (and paying) again.
//
// Adapters live in subpackages, one per provider (backend/runway,
// backend/luma, backend/fal, ...). They never retry by themselves: they
// classify failures with errclass (Retryable for infrastructure trouble and
// rate limits, with RetryAfter when the provider says; Permanent for requests
// the provider will never accept; ContentSafety for safety rejections), and
// the worker decides what to do.
package backend

import (
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
)

// Handle is a serialized reference to a submitted generation.
type Handle string

// SubmitRequest is what a worker asks a backend to generate.
type SubmitRequest struct {
	JobID   string
	Attempt int
	// Model is the provider model chosen by routing (from the catalog offer).
	Model string
	// DurationSeconds is the duration to ask the provider for: the request's
	// duration rounded up to one the model supports (see catalog).
	DurationSeconds int
	Prompt          string
	ImageURL        string
	Resolution      job.Resolution
	AspectRatio     job.AspectRatio
	Audio           bool
}

// State is a generation's state at the provider.
type State string

// The states.
const (
	StatePending   State = "pending" // accepted, queued or throttled
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCanceled  State = "canceled"
)

// Terminal reports whether the generation is over.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Status is one poll's answer.
type Status struct {
	State    State
	Progress float64 // 0..1 when the provider says; not money
	// VideoURL and DurationSeconds are set when State is StateSucceeded.
	VideoURL        string
	DurationSeconds int
	// Err classifies a failed generation (errclass.ContentSafety,
	// errclass.Permanent or errclass.Retryable); nil otherwise.
	Err error
	// Billed reports, for a canceled or failed generation, whether the
	// provider charges for it.
	Billed bool
}

// Backend is one provider adapter. Implementations are safe for concurrent
// use; every method honours ctx.
type Backend interface {
	// Submit starts a generation and returns its handle. A nil error means
	// the provider accepted it (and may bill it).
	Submit(ctx context.Context, req SubmitRequest) (Handle, error)
	// Poll returns the generation's current status. An error means the poll
	// itself failed (classified); a failed generation is a Status with Err.
	Poll(ctx context.Context, h Handle) (Status, error)
	// Cancel asks the provider to stop the generation. Canceling a finished
	// or unknown generation is not an error.
	Cancel(ctx context.Context, h Handle) error
	// PollInterval is how often the provider wants to be polled.
	PollInterval() time.Duration
}

// Finder is implemented by adapters whose provider can list recent
// generations. A worker that recorded its intent to submit but no handle
// (it crashed, or the submit's answer was lost) asks it whether the
// provider has the generation: found, it adopts the handle and polls;
// provably absent, it may submit; anything else, it must not resubmit.
type Finder interface {
	// Find looks for the generation that Submit(req) would have started
	// after since (the recorded intent time). found=false with a nil error
	// means the provider's listing covers the whole window and holds no
	// match: the submit provably did not happen. An ambiguous match (more
	// than one candidate) is an error, never a guess.
	Find(ctx context.Context, req SubmitRequest, since time.Time) (h Handle, found bool, err error)
}
