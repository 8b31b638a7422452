package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Message is the work order on aiprod-dispatch-<backend>: run attempt
// Attempt of job JobID on Backend with Model. Model, Seconds and Estimate
// repeat what the router wrote on the attempt, for logs and for consumers
// that want them without a read; the stored attempt is authoritative.
type Message struct {
	JobID     string       `json:"job_id"`
	ProjectID string       `json:"project_id"`
	Attempt   int          `json:"attempt"` // 1-based attempt number
	Backend   string       `json:"backend"`
	Model     string       `json:"model"`
	Seconds   int          `json:"seconds"`      // billed duration asked of the backend
	Estimate  money.Micros `json:"estimate_usd"` // the router's estimate for this attempt
}

// Validate reports the first missing or invalid field as an
// errclass.Permanent error naming it.
func (m Message) Validate() error {
	switch {
	case m.JobID == "":
		return errclass.New(errclass.Permanent, "dispatch message: job_id is required")
	case m.ProjectID == "":
		return errclass.New(errclass.Permanent, "dispatch message: project_id is required")
	case m.Attempt < 1:
		return errclass.New(errclass.Permanent, "dispatch message: attempt must be ≥ 1, got %d", m.Attempt)
	case m.Backend == "":
		return errclass.New(errclass.Permanent, "dispatch message: backend is required")
	case m.Seconds < 0:
		return errclass.New(errclass.Permanent, "dispatch message: seconds must be ≥ 0, got %d", m.Seconds)
	case m.Estimate < 0:
		return errclass.New(errclass.Permanent, "dispatch message: estimate_usd must be ≥ 0")
	}
	return nil
}

// Encode validates m and returns its JSON.
func (m Message) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Decode reads a dispatch message strictly (unknown fields and trailing data
// are errors) and validates it. Every error is errclass.Permanent and says
// what is wrong, for a dead-letter reason.
func Decode(b []byte) (Message, error) {
	m, ok := decodeMessage(b)
	if !ok {
		var err error
		if m, err = decodeMessageJSON(b); err != nil {
			return Message{}, err
		}
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// decodeMessageJSON is Decode's general path, with encoding/json, before
// validation.
func decodeMessageJSON(b []byte) (Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, errclass.New(errclass.Permanent, "dispatch message: data is empty")
		}
		return Message{}, errclass.Wrap(errclass.Permanent, err, "dispatch message: invalid JSON")
	}
	if !job.BlankAfter(dec, b) {
		return Message{}, errclass.New(errclass.Permanent, "dispatch message: data must hold a single JSON object")
	}
	return m, nil
}

// Attributes returns the message attributes of m: job_id, project_id,
// attempt and backend.
func (m Message) Attributes() map[string]string {
	a := JobAttributes(m.JobID, m.ProjectID, m.Attempt)
	a[queue.AttrBackend] = m.Backend
	return a
}

// JobAttributes returns the attributes naming a job (job_id, project_id) and,
// when attempt > 0, the attempt number.
func JobAttributes(jobID, projectID string, attempt int) map[string]string {
	a := map[string]string{queue.AttrJobID: jobID, queue.AttrProjectID: projectID}
	if attempt > 0 {
		a[queue.AttrAttempt] = strconv.Itoa(attempt)
	}
	return a
}

// ParseAttempt reads the attempt attribute: ok is false when it is absent;
// a present attribute that is not a positive integer is an
// errclass.Permanent error.
func ParseAttempt(attrs map[string]string) (n int, ok bool, err error) {
	s, ok := attrs[queue.AttrAttempt]
	if !ok || s == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, false, errclass.New(errclass.Permanent, "attribute attempt must be a positive integer, got %q", s)
	}
	return n, true, nil
}

// Lifecycle is the event published to aiprod-events when a job reaches a
// terminal status. It is published at least once per terminal job:
// consumers deduplicate on (job_id, status).
//
// Tier, CreatedAt and CompletedAt are for the warehouse (infra/README.md,
// "Warehouse"): the job's quality tier and its acceptance and completion
// times, so that completion times by tier need no other table. Events of
// earlier versions have none of them; the notifier does not read them.
type Lifecycle struct {
	JobID       string         `json:"job_id"`
	ProjectID   string         `json:"project_id"`
	Status      job.Status     `json:"status"`
	Error       *job.ErrorInfo `json:"error,omitempty"`
	Tier        job.Tier       `json:"tier,omitempty"`
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	CompletedAt *time.Time     `json:"completed_at,omitempty"`
}

// LifecycleOf returns the lifecycle event of a job as it is now.
func LifecycleOf(j *job.Job) Lifecycle {
	ev := Lifecycle{JobID: j.ID, ProjectID: j.ProjectID, Status: j.Status, Tier: j.Request.QualityTier,
		CreatedAt: j.CreatedAt}
	if j.CompletedAt != nil {
		t := *j.CompletedAt
		ev.CompletedAt = &t
	}
	if j.Error != nil {
		e := *j.Error
		ev.Error = &e
	}
	return ev
}

// DecodeLifecycle reads a lifecycle event. Unknown fields are ignored:
// events are a stream that later versions add fields to (tier and times
// were), and a reader of an older version must not dead-letter them
// during a rolling deploy; job_id, project_id and a valid status are
// required.
func DecodeLifecycle(b []byte) (Lifecycle, error) {
	ev, ok := decodeLifecycle(b)
	if !ok {
		var err error
		if ev, err = decodeLifecycleJSON(b); err != nil {
			return Lifecycle{}, err
		}
	}
	if ev.JobID == "" || ev.ProjectID == "" || !ev.Status.Valid() {
		return Lifecycle{}, errclass.New(errclass.Permanent, "lifecycle event: job_id, project_id and a valid status are required")
	}
	return ev, nil
}

// decodeLifecycleJSON is DecodeLifecycle's general path, with
// encoding/json, before validation.
func decodeLifecycleJSON(b []byte) (Lifecycle, error) {
	var ev Lifecycle
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ev); err != nil {
		return Lifecycle{}, errclass.Wrap(errclass.Permanent, err, "lifecycle event: invalid JSON")
	}
	return ev, nil
}

// Publish publishes m to DispatchTopic(m.Backend) in a producer span, with
// m's attributes and ctx's trace context.
func Publish(ctx context.Context, p queue.Publisher, m Message) (string, error) {
	data, err := m.Encode()
	if err != nil {
		return "", err
	}
	return publish(ctx, p, queue.DispatchTopic(m.Backend), data, m.Attributes())
}

// PublishReroute asks the router to route job jobID again, for attempt
// number attempt, by publishing to aiprod-jobs a message with attributes
// only (job_id, project_id, attempt, trace context).
func PublishReroute(ctx context.Context, p queue.Publisher, jobID, projectID string, attempt int) (string, error) {
	return publish(ctx, p, queue.TopicJobs, nil, JobAttributes(jobID, projectID, attempt))
}

// PublishLifecycle publishes ev to aiprod-events with attributes job_id and
// project_id and ctx's trace context.
func PublishLifecycle(ctx context.Context, p queue.Publisher, ev Lifecycle) (string, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode lifecycle event of job %s: %w", ev.JobID, err)
	}
	return publish(ctx, p, queue.TopicEvents, data, JobAttributes(ev.JobID, ev.ProjectID, 0))
}

func publish(ctx context.Context, p queue.Publisher, topic string, data []byte, attrs map[string]string) (string, error) {
	id, err := telemetry.Publish(ctx, p, topic, queue.Message{Data: data, Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("publish to %s for job %s: %w", topic, attrs[queue.AttrJobID], err)
	}
	return id, nil
}
