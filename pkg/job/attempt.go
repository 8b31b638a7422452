package job

import (
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// AttemptStatus is the state of one attempt of a job on one backend.
type AttemptStatus string

// The attempt states.
//
//	dispatched ──▶ submitting ──▶ running ──▶ succeeded
//	     │              │            │
//	     └──────────────┴────────────┴──▶ failed | canceled
//
// succeeded, failed and canceled are finished: nothing leaves them.
const (
	// AttemptDispatched: the router created the attempt and published it to
	// the backend's dispatch topic; no worker took it yet.
	AttemptDispatched AttemptStatus = "dispatched"
	// AttemptSubmitting: a worker recorded its intent to submit; the
	// provider has not confirmed (no Handle yet).
	AttemptSubmitting AttemptStatus = "submitting"
	// AttemptRunning: the provider accepted the generation; Handle is set.
	AttemptRunning   AttemptStatus = "running"
	AttemptSucceeded AttemptStatus = "succeeded"
	AttemptFailed    AttemptStatus = "failed"
	AttemptCanceled  AttemptStatus = "canceled"
)

// AttemptStatuses lists every attempt status, in lifecycle order.
var AttemptStatuses = []AttemptStatus{AttemptDispatched, AttemptSubmitting, AttemptRunning, AttemptSucceeded, AttemptFailed, AttemptCanceled}

// attemptLegal lists the transitions out of each unfinished attempt state.
var attemptLegal = map[AttemptStatus][]AttemptStatus{
	AttemptDispatched: {AttemptSubmitting, AttemptFailed, AttemptCanceled},
	AttemptSubmitting: {AttemptRunning, AttemptFailed, AttemptCanceled},
	AttemptRunning:    {AttemptSucceeded, AttemptFailed, AttemptCanceled},
}

// Valid reports whether s is a known attempt status.
func (s AttemptStatus) Valid() bool { return slices.Contains(AttemptStatuses, s) }

// Finished reports whether s is final: succeeded, failed or canceled.
func (s AttemptStatus) Finished() bool {
	return s == AttemptSucceeded || s == AttemptFailed || s == AttemptCanceled
}

// CanAttemptTransition reports whether an attempt may move from one status
// to another. Staying in the same status is not a transition.
func CanAttemptTransition(from, to AttemptStatus) bool {
	return slices.Contains(attemptLegal[from], to)
}

// transition moves a to status to at now, or returns an errclass.Conflict
// error when the attempt state machine forbids it. Finishing sets EndedAt.
func (a *Attempt) transition(to AttemptStatus, now time.Time) error {
	if !CanAttemptTransition(a.Status, to) {
		return errclass.New(errclass.Conflict, "attempt %d: illegal transition %s → %s", a.Number, a.Status, to)
	}
	a.Status = to
	if to.Finished() {
		t := now.UTC()
		a.EndedAt = &t
	}
	return nil
}

// Dispatch adds a as the job's next attempt (numbered, status dispatched)
// and moves the job to dispatched at now, on a's backend and estimate. It
// returns the attempt as stored in j. A job that is not queued is an
// errclass.Conflict error.
func (j *Job) Dispatch(a Attempt, now time.Time) (*Attempt, error) {
	if err := j.Transition(StatusDispatched, now); err != nil {
		return nil, err
	}
	a.Number = len(j.Attempts) + 1
	a.Status = AttemptDispatched
	j.Attempts = append(j.Attempts, a)
	j.Backend = a.Backend
	j.EstimatedCost = a.EstimatedCost
	return j.CurrentAttempt(), nil
}
