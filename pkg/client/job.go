package client

import (
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

// JobRequest is what a job asks for: the body of POST /v1/jobs, the data
// that Publish sends, and Job.Request (with the defaults applied). It is
// job.Request itself, so that the SDK and the API validate a request by
// the same rules (Validate, ApplyDefaults); its JSON is DESIGN.md's job
// request.
type JobRequest = job.Request

// Status is a job's lifecycle state (job.Status): queued, dispatched,
// running, then one terminal state, succeeded, failed or canceled.
// Status.Terminal reports the last three.
type Status = job.Status

// The job statuses.
const (
	StatusQueued     = job.StatusQueued
	StatusDispatched = job.StatusDispatched
	StatusRunning    = job.StatusRunning
	StatusSucceeded  = job.StatusSucceeded
	StatusFailed     = job.StatusFailed
	StatusCanceled   = job.StatusCanceled
)

// AttemptStatus is the state of one attempt (job.AttemptStatus, whose
// constants job.AttemptDispatched ... job.AttemptCanceled name them):
// dispatched, submitting, running, then one finished state, succeeded,
// failed or canceled. AttemptStatus.Finished reports the last three.
type AttemptStatus = job.AttemptStatus

// Job is a job as the HTTP API shows it (DESIGN.md, "Job"): the answer of
// Submit, Get, Cancel and Wait, and an entry of JobList. These types are
// the public shape itself: the API server (package api) renders its
// answers into them, so the SDK decodes every field the API sends and
// nothing else.
//
// Money is exact (money.Micros, integer micro-USD, shown as USD numbers
// with at most six decimals). Result, Error and CompletedAt are nil until
// the job has them; Backend is "" until the job is routed.
type Job struct {
	ID        string     `json:"id"`
	ProjectID string     `json:"project_id"`
	UserID    string     `json:"user_id,omitempty"`
	Status    Status     `json:"status"`
	Request   JobRequest `json:"request"`
	// Backend is the backend that serves the job, or served it last.
	Backend string `json:"backend,omitempty"`
	// Attempts lists every try of the job, oldest first; never null.
	Attempts      []Attempt    `json:"attempts"`
	EstimatedCost money.Micros `json:"estimated_cost_usd"`
	// Cost is what the job cost: the sum of its attempts' costs.
	Cost   money.Micros `json:"cost_usd"`
	Result *Result      `json:"result,omitempty"`
	// Error says why a failed or canceled job ended so; its Code is one
	// of budget_exceeded, no_backend, backend_failed, invalid_request,
	// canceled, timeout, content_rejected.
	Error *ErrorInfo `json:"error,omitempty"`
	// TraceID is the job's trace (invariant 7), 32 hex digits.
	TraceID     string     `json:"trace_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// Attempt is one try of a job on one backend. Error is set on a failed
// attempt, EndedAt on a finished one, SubmittedAt once the provider was
// asked.
type Attempt struct {
	// Number counts the job's attempts from 1 (JSON "attempt").
	Number        int           `json:"attempt"`
	Backend       string        `json:"backend"`
	Model         string        `json:"model,omitempty"`
	Status        AttemptStatus `json:"status"`
	Error         *ErrorInfo    `json:"error,omitempty"`
	EstimatedCost money.Micros  `json:"estimated_cost_usd"`
	Cost          money.Micros  `json:"cost_usd"`
	StartedAt     time.Time     `json:"started_at"`
	SubmittedAt   *time.Time    `json:"submitted_at,omitempty"`
	EndedAt       *time.Time    `json:"ended_at,omitempty"`
	// DurationSeconds is the duration asked of the backend (and billed),
	// which may round the request's up to one the model offers.
	DurationSeconds int `json:"duration_seconds,omitempty"`
}

// ErrorInfo is the error of a job or of an attempt: a stable code and a
// message for people.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result is a succeeded job's video.
type Result struct {
	VideoURL        string `json:"video_url"`
	DurationSeconds int    `json:"duration_seconds"`
}

// JobList is one page of List, newest job first: the body of GET /v1/jobs.
// NextPageToken is "" on the last page.
type JobList struct {
	Jobs          []Job  `json:"jobs"`
	NextPageToken string `json:"next_page_token"`
}

// Event is one entry of a job's timeline (GET /v1/jobs/{id}/events): what
// a stage (ingest, router, worker, notifier) did, with the attempt and
// backend concerned when there is one and the trace and span ids of the
// work.
type Event struct {
	At      time.Time `json:"at"`
	Stage   string    `json:"stage"`
	Type    string    `json:"type"`
	Backend string    `json:"backend,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Message string    `json:"message,omitempty"`
	TraceID string    `json:"trace_id,omitempty"`
	SpanID  string    `json:"span_id,omitempty"`
}

// EventList is the body of GET /v1/jobs/{id}/events, oldest event first.
type EventList struct {
	Events []Event `json:"events"`
}

// Span is one span of a job's trace, as GET /v1/jobs/{id}/spans shows it
// (local stacks that keep spans in memory: aiprod dev).
type Span struct {
	Name         string            `json:"name"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id,omitempty"`
	Kind         string            `json:"kind"`            // server, client, producer, consumer, internal
	Scope        string            `json:"scope,omitempty"` // instrumentation scope: AIPROD's or a library's
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	Status       string            `json:"status"` // ok, error or unset
	Error        string            `json:"error,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// SpanList is the body of GET /v1/jobs/{id}/spans, spans by start time.
type SpanList struct {
	Spans []Span `json:"spans"`
}
