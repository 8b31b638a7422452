package api

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// The public shapes of jobs and events are the SDK's types (package
// client): defined once, rendered here, decoded there, so the API and the
// SDK cannot drift apart. The stored records (job.Job, store.Event) hold
// more than the API shows: providers' handles, budget reservations, the
// sweeper's redrive count, the idempotency key, excluded backends and
// retry timing stay inside.

// JobList is the body of GET /v1/jobs.
type JobList = client.JobList

// EventList is the body of GET /v1/jobs/{id}/events.
type EventList = client.EventList

// PublicJob returns j as every job response shows it (DESIGN.md, "Job"):
// its request with the defaults applied, its attempts without their
// providers' handles, reservations and retry timing, and none of the
// job's own bookkeeping. The result shares no memory with j.
func PublicJob(j *job.Job) client.Job {
	j = j.Clone()
	j.Request.ApplyDefaults()
	v := client.Job{
		ID: j.ID, ProjectID: j.ProjectID, UserID: j.UserID, Status: j.Status, Request: j.Request,
		Backend: j.Backend, Attempts: make([]client.Attempt, 0, len(j.Attempts)),
		EstimatedCost: j.EstimatedCost, Cost: j.Cost, Error: publicError(j.Error), TraceID: j.TraceID,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, CompletedAt: j.CompletedAt,
	}
	if j.Result != nil {
		v.Result = &client.Result{VideoURL: j.Result.VideoURL, DurationSeconds: j.Result.DurationSeconds}
	}
	for _, a := range j.Attempts {
		v.Attempts = append(v.Attempts, client.Attempt{
			Number: a.Number, Backend: a.Backend, Model: a.Model, Status: a.Status, Error: publicError(a.Error),
			EstimatedCost: a.EstimatedCost, Cost: a.Cost, StartedAt: a.StartedAt, SubmittedAt: a.SubmittedAt,
			EndedAt: a.EndedAt, DurationSeconds: a.DurationSeconds,
		})
	}
	return v
}

// ListedJob returns j as a job listing shows it: PublicJob, with an inline
// (data:) image_url shortened to its media type and "…"
// ("data:image/png;base64,…"): a listing never carries image bytes, which
// made a page of 500 jobs tens of megabytes. GET /v1/jobs/{id} shows the
// whole request.
func ListedJob(j *job.Job) client.Job {
	v := PublicJob(j)
	if u := v.Request.ImageURL; strings.HasPrefix(u, "data:") {
		if head, _, ok := strings.Cut(u, ","); ok {
			v.Request.ImageURL = head + ",…"
		} else {
			v.Request.ImageURL = "data:,…"
		}
	}
	return v
}

func publicError(e *job.ErrorInfo) *client.ErrorInfo {
	if e == nil {
		return nil
	}
	return &client.ErrorInfo{Code: e.Code, Message: e.Message}
}

// PublicEvent returns a timeline entry as GET /v1/jobs/{id}/events shows
// it: everything but the store's id of the event.
func PublicEvent(e store.Event) client.Event {
	return client.Event{
		At: e.At, Stage: e.Stage, Type: e.Type, Backend: e.Backend, Attempt: e.Attempt,
		Message: e.Message, TraceID: e.TraceID, SpanID: e.SpanID,
	}
}

// publicAll maps every element of in with public; never nil, so that an
// empty list is [] in JSON.
func publicAll[T, V any](in []T, public func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, public(x))
	}
	return out
}
