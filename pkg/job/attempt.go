package job

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
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

// Event is one entry of a job's timeline. The state-machine methods below
// return the events of the change they make, with Type, Backend, Attempt
// and Message set; the writer adds the stage, the time and the trace.
//
// Event has no JSON form of its own: the API shows events as client.Event
// (api.PublicEvent), so a field added here is never shown by accident.
type Event struct {
	ID      string // the store's id of the event within its job
	At      time.Time
	Stage   string // ingest | router | worker | notifier
	Type    string
	Backend string
	Attempt int // 0 when the event is about no attempt
	Message string
	TraceID string
	SpanID  string
}

// event is a timeline entry about attempt a.
func (a *Attempt) event(typ, msg string) Event {
	return Event{Type: typ, Backend: a.Backend, Attempt: a.Number, Message: msg}
}

// current returns attempt n when it is the job's latest and unfinished, or
// an errclass.Conflict error.
func (j *Job) current(n int) (*Attempt, error) {
	a := j.CurrentAttempt()
	if a == nil || a.Number != n {
		return nil, errclass.New(errclass.Conflict, "job %s: attempt %d is not the current attempt", j.ID, n)
	}
	if a.Status.Finished() {
		return nil, errclass.New(errclass.Conflict, "job %s: attempt %d is already %s", j.ID, n, a.Status)
	}
	return a, nil
}

// RecordIntent records a worker's intent to submit dispatched attempt n at
// now: the attempt becomes submitting and the job running. A worker that
// finds an intent without a handle reconciles it instead of submitting
// again (DESIGN invariant 2).
func (j *Job) RecordIntent(n int, now time.Time) ([]Event, error) {
	a, err := j.current(n)
	if err != nil {
		return nil, err
	}
	if j.Status != StatusDispatched || a.Handle != "" {
		return nil, errclass.New(errclass.Conflict, "job %s: attempt %d is not waiting for a worker", j.ID, n)
	}
	if err := a.transition(AttemptSubmitting, now); err != nil {
		return nil, err
	}
	t := now.UTC()
	a.SubmittedAt = &t
	if err := j.Transition(StatusRunning, now); err != nil {
		return nil, err
	}
	return []Event{a.event("submitting", fmt.Sprintf("submitting to %s (%s, %d s)", a.Backend, a.Model, a.DurationSeconds))}, nil
}

// RecordHandle records handle h of the generation that the provider
// accepted for submitting attempt n: the attempt becomes running. typ and
// msg are the timeline entry ("submitted" after a submit, "reconciled"
// after a provider lookup found it). A canceled job still records it: the
// generation must be canceled at the provider through it.
func (j *Job) RecordHandle(n int, h string, now time.Time, typ, msg string) ([]Event, error) {
	a, err := j.current(n)
	if err != nil {
		return nil, err
	}
	if j.Status.Terminal() && j.Status != StatusCanceled {
		return nil, errclass.New(errclass.Conflict, "job %s is %s", j.ID, j.Status)
	}
	if err := a.transition(AttemptRunning, now); err != nil {
		return nil, err
	}
	t := now.UTC()
	a.Handle, a.LastProgressAt = h, &t
	return []Event{a.event(typ, msg)}, nil
}

// SucceedAttempt records that attempt n produced r (billed for
// r.DurationSeconds at cost): the attempt and the job succeed. When the job
// was canceled meanwhile, the attempt is recorded canceled with the cost
// the provider bills anyway, and the job stays canceled.
func (j *Job) SucceedAttempt(n int, cost money.Micros, r Result, now time.Time) ([]Event, error) {
	a, err := j.endable(n)
	if err != nil {
		return nil, err
	}
	a.Cost = cost
	if j.Status == StatusCanceled {
		return j.cancelEnded(a, "job canceled; the provider finished the generation anyway",
			fmt.Sprintf("finished after the cancel: %s billed", a.Cost), now)
	}
	if err := a.transition(AttemptSucceeded, now); err != nil {
		return nil, err
	}
	a.LastProgressAt = a.EndedAt
	j.Cost = TotalCost(j.Attempts)
	j.Result, j.Error = &r, nil
	if err := j.Transition(StatusSucceeded, now); err != nil {
		return nil, err
	}
	return []Event{a.event("succeeded", fmt.Sprintf("%d s video for %s", r.DurationSeconds, a.Cost))}, nil
}

// Failure is how an attempt failed, for FailAttempt.
type Failure struct {
	Code    string
	Message string
	// Final: the request itself cannot succeed (content safety, invalid
	// request): the job fails, without failover.
	Final bool
	// Cost is what the provider bills for the failed attempt, if anything.
	Cost money.Micros
	// RetryAt, for a submit the provider refused without taking it on,
	// is when the backend may serve the job again.
	RetryAt *time.Time
}

// FailAttempt records that attempt n failed with f. A final failure fails
// the job; any other excludes the attempt's backend and sends the job back
// to queued for another backend (failover), or fails it with
// backend_failed when it already has maxAttempts attempts. When the job was
// canceled meanwhile, the attempt is recorded canceled and the job stays
// canceled.
func (j *Job) FailAttempt(n int, f Failure, maxAttempts int, now time.Time) ([]Event, error) {
	a, err := j.endable(n)
	if err != nil {
		return nil, err
	}
	a.Cost = f.Cost
	if j.Status == StatusCanceled {
		msg := "job canceled; the attempt ended with " + f.Code + ": " + f.Message
		return j.cancelEnded(a, msg, msg, now)
	}
	if err := a.transition(AttemptFailed, now); err != nil {
		return nil, err
	}
	a.Error = &ErrorInfo{Code: f.Code, Message: f.Message}
	a.RetryAt = f.RetryAt
	j.Cost = TotalCost(j.Attempts)
	events := []Event{a.event("attempt_failed", f.Code+": "+f.Message)}
	code, msg := f.Code, f.Message
	switch {
	case f.Final:
	case len(j.Attempts) >= maxAttempts:
		j.exclude(a.Backend)
		code, msg = CodeBackendFailed, fmt.Sprintf("all %d attempts failed: %s", len(j.Attempts), AttemptsSummary(j.Attempts))
	default:
		j.exclude(a.Backend)
		if err := j.Transition(StatusQueued, now); err != nil {
			return nil, err
		}
		return append(events, a.event("rerouted", "back to the router without "+a.Backend)), nil
	}
	if err := j.Fail(code, msg, now); err != nil {
		return nil, err
	}
	return append(events, a.event("failed", code+": "+msg)), nil
}

// CancelAttempt records that attempt n of a canceled job ended (canceled at
// the provider, or never started there), billed cost.
func (j *Job) CancelAttempt(n int, cost money.Micros, msg string, now time.Time) ([]Event, error) {
	if j.Status != StatusCanceled {
		return nil, errclass.New(errclass.Conflict, "job %s is %s, not canceled", j.ID, j.Status)
	}
	a, err := j.current(n)
	if err != nil {
		return nil, err
	}
	a.Cost = cost
	return j.cancelEnded(a, msg, fmt.Sprintf("%s; %s billed", msg, cost), now)
}

// endable returns attempt n when an outcome may be recorded for it: the
// current, unfinished attempt of a job that is running or canceled.
func (j *Job) endable(n int) (*Attempt, error) {
	a, err := j.current(n)
	if err != nil {
		return nil, err
	}
	if j.Status.Terminal() && j.Status != StatusCanceled {
		return nil, errclass.New(errclass.Conflict, "job %s is already %s", j.ID, j.Status)
	}
	return a, nil
}

// cancelEnded records the end of attempt a of a canceled job.
func (j *Job) cancelEnded(a *Attempt, errMsg, eventMsg string, now time.Time) ([]Event, error) {
	if err := a.transition(AttemptCanceled, now); err != nil {
		return nil, err
	}
	a.LastProgressAt = a.EndedAt
	a.Error = &ErrorInfo{Code: CodeCanceled, Message: errMsg}
	j.Cost = TotalCost(j.Attempts)
	return []Event{a.event("attempt_canceled", eventMsg)}, nil
}

func (j *Job) exclude(backend string) {
	if !slices.Contains(j.ExcludedBackends, backend) {
		j.ExcludedBackends = append(j.ExcludedBackends, backend)
	}
}

// TotalCost is the sum of the attempts' costs: a job's cost.
func TotalCost(as []Attempt) money.Micros {
	var sum money.Micros
	for _, a := range as {
		sum += a.Cost
	}
	return sum
}

// AttemptsSummary describes every attempt of a job in one line, for the
// message of a job that failed with backend_failed or no_backend after
// attempts: "attempt 1 on luma (ray-2): backend_unavailable: 503; ...".
func AttemptsSummary(attempts []Attempt) string {
	parts := make([]string, 0, len(attempts))
	for _, a := range attempts {
		s := fmt.Sprintf("attempt %d on %s", a.Number, a.Backend)
		if a.Model != "" {
			s += " (" + a.Model + ")"
		}
		if a.Error != nil {
			s += ": " + a.Error.Code
			if a.Error.Message != "" {
				s += ": " + a.Error.Message
			}
		} else {
			s += ": " + string(a.Status)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
