package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Timeline entries written by the API.
const (
	StageIngest        = "ingest"
	EventTypeAccepted  = "accepted"
	EventTypeCanceled  = "canceled"
	EventTypeNotQueued = "not_queued"
)

// Idempotency-Key limits.
const (
	HeaderIdempotencyKey  = "Idempotency-Key"
	MaxIdempotencyKeyLen  = 255
	headerIdempotentReply = "Idempotent-Replayed"
)

// runTx runs fn in a store transaction, again after a conflict or a
// transient error (the job-write path's policy).
func (s *Server) runTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.jobs.RunTx(ctx, fn)
}

// idempotencyKey returns the request's Idempotency-Key header, if sent.
func idempotencyKey(r *http.Request) (string, bool, error) {
	vals := r.Header.Values(HeaderIdempotencyKey)
	switch {
	case len(vals) == 0:
		return "", false, nil
	case len(vals) > 1:
		return "", false, invalid(HeaderIdempotencyKey, "must be sent once")
	}
	k := vals[0]
	n := utf8.RuneCountInString(k)
	switch {
	case n == 0:
		return "", false, invalid(HeaderIdempotencyKey, "must not be empty")
	case n > MaxIdempotencyKeyLen:
		return "", false, invalid(HeaderIdempotencyKey, "must be at most %d characters, got %d", MaxIdempotencyKeyLen, n)
	case !utf8.ValidString(k):
		return "", false, invalid(HeaderIdempotencyKey, "must be valid UTF-8")
	}
	return k, true, nil
}

// createJob is POST /v1/jobs: validate, store the job (once per
// idempotency key), publish it to the router, answer 202 with the job.
func (s *Server) createJob(w http.ResponseWriter, r *http.Request, project string) error {
	ctx := r.Context()
	key, hasKey, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := job.ParseRequest(body)
	if err != nil {
		return err
	}
	for _, b := range req.Backends {
		if s.cfg.Catalog.Backend(b) == nil {
			return invalid("backends", "unknown backend %q; known backends: %s", b, strings.Join(s.cfg.Catalog.Names(), ", "))
		}
	}
	if err := s.checkWebhookURL(req.WebhookURL); err != nil {
		return err
	}

	id := job.NewID()
	if hasKey {
		id = job.IDForKey(project, key)
	}
	now := s.cfg.Now()
	j := job.New(id, project, req, now)
	j.IdempotencyKey = key
	trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrJobID.String(id), telemetry.AttrProjectID.String(project))
	// Every job has a trace of its own (invariant 7), linked to the
	// request's span: a caller's trace that submits many jobs does not
	// fold them all into one trace.
	ctx, span := telemetry.Tracer().Start(ctx, "job "+id, trace.WithNewRoot(),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(telemetry.AttrJobID.String(id), telemetry.AttrProjectID.String(project)))
	defer span.End()
	j.TraceID = telemetry.TraceID(ctx)

	stored, created, err := s.storeNewJob(ctx, j)
	if err != nil {
		return err
	}
	// The job's fields go with each record, not through Logger.With, which
	// formats them ahead even when nothing is logged; the lines are the same.
	jobID, projectID := slog.String("job_id", stored.ID), slog.String("project_id", project)
	if created {
		s.log.LogAttrs(ctx, slog.LevelInfo, "job accepted", jobID, projectID, slog.Bool("idempotency_key", hasKey))
	} else {
		s.log.LogAttrs(ctx, slog.LevelInfo, "job replayed for its idempotency key", jobID, projectID,
			slog.String("status", string(stored.Status)))
		w.Header().Set(headerIdempotentReply, "true")
	}

	// A queued job is published again on a retried key: the first publish
	// may have failed, and the router ignores a job it already routed.
	if stored.Status == job.StatusQueued {
		if err := s.publishJob(ctx, stored); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "publish job", jobID, projectID, slog.String("error", err.Error()))
			return s.notQueued(ctx, stored, hasKey)
		}
	}
	w.Header().Set("Location", "/v1/jobs/"+stored.ID)
	s.writeJSON(w, r, http.StatusAccepted, PublicJob(stored))
	return nil
}

// storeNewJob creates j with its "accepted" event unless a job with its id
// exists; it returns the stored job and whether this call created it.
func (s *Server) storeNewJob(ctx context.Context, j *job.Job) (*job.Job, bool, error) {
	msg := "accepted by the API"
	if j.IdempotencyKey != "" {
		msg += " with an idempotency key"
	}
	stored, created, err := s.jobs.Create(ctx, j, store.Event{At: j.CreatedAt, Type: EventTypeAccepted, Message: msg, TraceID: j.TraceID, SpanID: telemetry.SpanID(ctx)})
	if err != nil {
		return nil, false, unexpected(err, "store job "+j.ID)
	}
	if stored.ProjectID != j.ProjectID {
		// Ids of keyed jobs are UUIDv5s of project and key: only a UUID
		// collision gets here. Never show another project's job.
		return nil, false, fmt.Errorf("job id %s collides with a job of another project", j.ID)
	}
	return stored, created, nil
}

// publishJob publishes a queued job to the router, in the job's trace.
func (s *Server) publishJob(ctx context.Context, j *job.Job) error {
	data, err := json.Marshal(j.Request)
	if err != nil {
		return fmt.Errorf("encode request of job %s: %w", j.ID, err)
	}
	attrs := map[string]string{queue.AttrJobID: j.ID, queue.AttrProjectID: j.ProjectID}
	if j.IdempotencyKey != "" {
		attrs[queue.AttrIdempotencyKey] = j.IdempotencyKey
	}
	return s.publish(ctx, j, queue.TopicJobs, data, attrs)
}

// publish sends one message about job j to topic with a producer span in
// the job's trace.
func (s *Server) publish(ctx context.Context, j *job.Job, topic string, data []byte, attrs map[string]string) error {
	pctx, links := s.jobTraceContext(ctx, j)
	_, err := telemetry.Publish(telemetry.WithLinks(pctx, links...), s.cfg.Queue, topic, queue.Message{Data: data, Attributes: attrs})
	if err != nil {
		return fmt.Errorf("publish job %s to %s: %w", j.ID, topic, err)
	}
	return nil
}

// jobTraceContext returns a context whose span is in the job's trace: ctx
// itself when the request runs in it (the job was created by this
// request), else a context parented on the span that accepted the job,
// with a link to the request's span. So every message about a job carries
// the job's trace id (invariant 7), even when a retried request or a
// cancel runs in a trace of its own.
func (s *Server) jobTraceContext(ctx context.Context, j *job.Job) (context.Context, []trace.Link) {
	cur := trace.SpanContextFromContext(ctx)
	tid, err := trace.TraceIDFromHex(j.TraceID)
	if err != nil || (cur.IsValid() && cur.TraceID() == tid) {
		return ctx, nil
	}
	sid := cur.SpanID()
	if events, err := s.cfg.Store.ListEvents(ctx, j.ID); err == nil {
		for _, e := range events {
			if e.Stage == StageIngest && e.Type == EventTypeAccepted && e.TraceID == j.TraceID {
				if id, err := trace.SpanIDFromHex(e.SpanID); err == nil {
					sid = id
				}
				break
			}
		}
	}
	if !sid.IsValid() {
		return ctx, nil
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	var links []trace.Link
	if cur.IsValid() {
		links = append(links, trace.Link{SpanContext: cur})
	}
	return trace.ContextWithRemoteSpanContext(ctx, parent), links
}

// notQueued answers a job that is stored but could not be published. With
// an idempotency key the job stays queued: the client retries with the same
// key, which publishes it again. Without one the client's retry creates
// another job, so this one is canceled (best effort) rather than left queued
// for a later sweep to run twice.
func (s *Server) notQueued(ctx context.Context, j *job.Job, hasKey bool) error {
	if hasKey {
		return &httpError{status: http.StatusServiceUnavailable, ErrorDetail: ErrorDetail{
			Code: CodeUnavailable,
			Message: fmt.Sprintf("job %s is stored but could not be queued (the queue is unavailable); "+
				"retry the request with the same Idempotency-Key", j.ID),
		}}
	}
	const why = "could not be queued (the queue was unavailable); the request was answered 503 and the job never ran"
	_, err := s.transitionJob(ctx, j.ProjectID, j.ID, func(tx *jobwrite.Tx, cur *job.Job) error {
		if cur.Status != job.StatusQueued {
			return jobwrite.ErrNoChange // the router got it after all; leave it
		}
		if err := cur.Transition(job.StatusCanceled, tx.Now()); err != nil {
			return err
		}
		cur.Error = &job.ErrorInfo{Code: job.CodeCanceled, Message: why}
		tx.Event(EventTypeNotQueued, nil, why)
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "cancel unqueued job", slog.String("job_id", j.ID),
			slog.String("project_id", j.ProjectID), slog.String("error", err.Error()))
	}
	return &httpError{status: http.StatusServiceUnavailable, ErrorDetail: ErrorDetail{
		Code: CodeUnavailable,
		Message: "the job could not be queued and was not accepted; retry the request " +
			"(send an Idempotency-Key header to make retries safe)",
	}}
}

// transitionJob changes a job of project through the job-write path
// (package jobwrite: one transaction, the budget settled when the change
// ends the job). change adds its timeline events to tx, or returns
// jobwrite.ErrNoChange to write nothing. A job that is absent or another
// project's is errclass.NotFound.
func (s *Server) transitionJob(ctx context.Context, project, id string, change func(tx *jobwrite.Tx, j *job.Job) error) (*job.Job, error) {
	res, err := s.jobs.Update(ctx, id, func(tx *jobwrite.Tx, j *job.Job) error {
		if j.ProjectID != project {
			return errJobNotFound(id)
		}
		return change(tx, j)
	})
	if errors.Is(err, errclass.NotFound) {
		return nil, errJobNotFound(id)
	}
	return res.Job, err
}

// errJobNotFound is the answer for a job that is absent, not a job id, or
// another project's: the same in every case (invariant 5).
func errJobNotFound(id string) error {
	return errclass.New(errclass.NotFound, "job %q not found", id)
}

// loadJob reads a job of project; absent, malformed and foreign ids are all
// errclass.NotFound.
func (s *Server) loadJob(ctx context.Context, project, id string) (*job.Job, error) {
	if !job.ValidID(id) {
		return nil, errJobNotFound(id)
	}
	j, err := s.cfg.Store.GetJob(ctx, id)
	switch {
	case errors.Is(err, errclass.NotFound):
		return nil, errJobNotFound(id)
	case err != nil:
		return nil, unexpected(err, "read job "+id)
	case j.ProjectID != project:
		return nil, errJobNotFound(id)
	}
	return j, nil
}

// getJob is GET /v1/jobs/{id}.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, project string) error {
	j, err := s.loadJob(r.Context(), project, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, PublicJob(j))
	return nil
}

// cancelJob is POST /v1/jobs/{id}/cancel. It records the cancellation;
// the worker that holds the job sees it and cancels the generation at the
// backend, and the router drops a canceled job it has not routed yet.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, project string) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if !job.ValidID(id) {
		return errJobNotFound(id)
	}
	j, err := s.transitionJob(ctx, project, id, func(tx *jobwrite.Tx, j *job.Job) error {
		if j.Status.Terminal() {
			return errclass.New(errclass.Conflict, "job %s is already %s; only queued, dispatched or running jobs can be canceled", j.ID, j.Status)
		}
		now := tx.Now()
		// A dispatched attempt never reached a provider: it ends with the
		// job, which gives back what it holds. A running one keeps its
		// reservation until the worker that cancels it at the provider
		// settles what was billed (budget.NeedsSettlement).
		if a := j.CurrentAttempt(); a != nil && a.Status == job.AttemptDispatched {
			a.Status, a.EndedAt = job.AttemptCanceled, &now
		}
		if err := j.Transition(job.StatusCanceled, now); err != nil {
			return err
		}
		j.Error = &job.ErrorInfo{Code: job.CodeCanceled, Message: "canceled through the API"}
		tx.Event(EventTypeCanceled, nil, j.Error.Message)
		return nil
	})
	if err != nil {
		if c := errclass.Of(err); c != errclass.NotFound && c != errclass.Conflict {
			return unexpected(err, "cancel job "+id)
		}
		return err
	}
	trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrJobID.String(j.ID))
	log := s.log.With(slog.String("job_id", j.ID), slog.String("project_id", project))
	log.InfoContext(ctx, "job canceled")
	if err := s.publishLifecycle(ctx, j); err != nil {
		// Best effort: the job's state is already right in the store.
		log.WarnContext(ctx, "publish lifecycle event", slog.String("error", err.Error()))
	}
	s.writeJSON(w, r, http.StatusOK, PublicJob(j))
	return nil
}

// publishLifecycle tells the notifier that a job changed status, in the
// lifecycle event format that every service publishes (dispatch.Lifecycle).
func (s *Server) publishLifecycle(ctx context.Context, j *job.Job) error {
	data, err := json.Marshal(dispatch.LifecycleOf(j))
	if err != nil {
		return err
	}
	attrs := map[string]string{queue.AttrJobID: j.ID, queue.AttrProjectID: j.ProjectID}
	return s.publish(ctx, j, queue.TopicEvents, data, attrs)
}

// jobEvents is GET /v1/jobs/{id}/events.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request, project string) error {
	ctx := r.Context()
	j, err := s.loadJob(ctx, project, r.PathValue("id"))
	if err != nil {
		return err
	}
	events, err := s.cfg.Store.ListEvents(ctx, j.ID)
	if err != nil {
		return unexpected(err, "list events of job "+j.ID)
	}
	s.writeJSON(w, r, http.StatusOK, EventList{Events: publicAll(events, PublicEvent)})
	return nil
}
