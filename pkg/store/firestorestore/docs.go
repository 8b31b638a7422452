package firestorestore

import (
	"regexp"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Retention is how long jobs and events are kept: their expire_at is their
// time plus Retention, for Firestore's TTL policy (see indexes.json).
const Retention = 90 * 24 * time.Hour

// Collection and field names.
const (
	jobsCollection     = "jobs"
	eventsCollection   = "events"
	backendsCollection = "backends"
	apiKeysCollection  = "apikeys"

	fieldProjectID = "project_id"
	fieldStatus    = "status"
	fieldBackend   = "backend"
	fieldErrorCode = "error_code"
	fieldUserID    = "user_id"
	fieldCreatedAt = "created_at"
)

// jobDoc is jobs/{id}. The job id is the document id.
//
// ErrorCode repeats Error.Code at the top level, for the error_code filter
// of ListJobs: the error map has no single-field indexes (indexes.json).
// Decoding never reads it, so documents written before it existed still
// decode; they match an error_code filter once they are written again.
type jobDoc struct {
	ProjectID           string       `firestore:"project_id"`
	UserID              string       `firestore:"user_id,omitempty"`
	Status              string       `firestore:"status"`
	Request             requestDoc   `firestore:"request"`
	Backend             string       `firestore:"backend,omitempty"`
	Attempts            []attemptDoc `firestore:"attempts"`
	EstimatedCostMicros int64        `firestore:"estimated_cost_micros"`
	CostMicros          int64        `firestore:"cost_micros"`
	Result              *resultDoc   `firestore:"result,omitempty"`
	Error               *errorDoc    `firestore:"error,omitempty"`
	TraceID             string       `firestore:"trace_id,omitempty"`
	IdempotencyKey      string       `firestore:"idempotency_key,omitempty"`
	ExcludedBackends    []string     `firestore:"excluded_backends"`
	CreatedAt           time.Time    `firestore:"created_at"`
	UpdatedAt           time.Time    `firestore:"updated_at"`
	CompletedAt         *time.Time   `firestore:"completed_at,omitempty"`
	Redrives            int          `firestore:"redrives,omitempty"`
	RedrivenAt          *time.Time   `firestore:"redriven_at,omitempty"`
	// Derived fields, for queries and the TTL policy.
	ErrorCode string    `firestore:"error_code,omitempty"`
	ExpireAt  time.Time `firestore:"expire_at"`
}

type requestDoc struct {
	Prompt          string            `firestore:"prompt"`
	DurationSeconds int               `firestore:"duration_seconds"`
	Resolution      string            `firestore:"resolution"`
	AspectRatio     string            `firestore:"aspect_ratio"`
	QualityTier     string            `firestore:"quality_tier"`
	ImageURL        string            `firestore:"image_url,omitempty"`
	Audio           bool              `firestore:"audio"`
	MaxCostMicros   *int64            `firestore:"max_cost_micros,omitempty"`
	Backends        []string          `firestore:"backends"`
	UserID          string            `firestore:"user_id,omitempty"`
	WebhookURL      string            `firestore:"webhook_url,omitempty"`
	DeadlineSeconds *int              `firestore:"deadline_seconds,omitempty"`
	Metadata        map[string]string `firestore:"metadata"`
}

type attemptDoc struct {
	Number              int        `firestore:"attempt"`
	Backend             string     `firestore:"backend"`
	Model               string     `firestore:"model,omitempty"`
	Status              string     `firestore:"status"`
	Handle              string     `firestore:"handle,omitempty"`
	Error               *errorDoc  `firestore:"error,omitempty"`
	EstimatedCostMicros int64      `firestore:"estimated_cost_micros"`
	ReservedMicros      int64      `firestore:"reserved_micros,omitempty"`
	BudgetShard         int        `firestore:"budget_shard,omitempty"`
	CostMicros          int64      `firestore:"cost_micros"`
	StartedAt           time.Time  `firestore:"started_at"`
	SubmittedAt         *time.Time `firestore:"submitted_at,omitempty"`
	EndedAt             *time.Time `firestore:"ended_at,omitempty"`
	LastProgressAt      *time.Time `firestore:"last_progress_at,omitempty"`
	DurationSeconds     int        `firestore:"duration_seconds,omitempty"`
	RetryAt             *time.Time `firestore:"retry_at,omitempty"`
	NotBefore           *time.Time `firestore:"not_before,omitempty"`
}

type resultDoc struct {
	VideoURL        string `firestore:"video_url"`
	DurationSeconds int    `firestore:"duration_seconds"`
}

type errorDoc struct {
	Code    string `firestore:"code"`
	Message string `firestore:"message"`
}

// backendDoc is backends/{name}.
type backendDoc struct {
	Disabled  bool            `firestore:"disabled"`
	Breaker   circuit.Breaker `firestore:"breaker"`
	UpdatedAt time.Time       `firestore:"updated_at"`
}

// eventDoc is jobs/{job_id}/events/{event_id}.
type eventDoc struct {
	At       time.Time `firestore:"at"`
	Stage    string    `firestore:"stage"`
	Type     string    `firestore:"type"`
	Backend  string    `firestore:"backend,omitempty"`
	Attempt  int       `firestore:"attempt,omitempty"`
	Message  string    `firestore:"message,omitempty"`
	TraceID  string    `firestore:"trace_id,omitempty"`
	SpanID   string    `firestore:"span_id,omitempty"`
	ExpireAt time.Time `firestore:"expire_at"`
}

// apiKeyDoc is apikeys/{hash}.
type apiKeyDoc struct {
	ProjectID  string    `firestore:"project_id"`
	CreatedAt  time.Time `firestore:"created_at"`
	Revoked    bool      `firestore:"revoked"`
	Prefix     string    `firestore:"prefix,omitempty"`
	ExpiresAt  time.Time `firestore:"expires_at"`   // zero: never
	LastUsedAt time.Time `firestore:"last_used_at"` // zero: never
}

func toJobDoc(j *job.Job) jobDoc {
	d := jobDoc{
		ProjectID: j.ProjectID,
		UserID:    j.UserID,
		Status:    string(j.Status),
		Request: requestDoc{
			Prompt:          j.Request.Prompt,
			DurationSeconds: j.Request.DurationSeconds,
			Resolution:      string(j.Request.Resolution),
			AspectRatio:     string(j.Request.AspectRatio),
			QualityTier:     string(j.Request.QualityTier),
			ImageURL:        j.Request.ImageURL,
			Audio:           j.Request.Audio,
			Backends:        j.Request.Backends,
			UserID:          j.Request.UserID,
			WebhookURL:      j.Request.WebhookURL,
			DeadlineSeconds: j.Request.DeadlineSeconds,
			Metadata:        j.Request.Metadata,
		},
		Backend:             j.Backend,
		Attempts:            make([]attemptDoc, len(j.Attempts)),
		EstimatedCostMicros: int64(j.EstimatedCost),
		CostMicros:          int64(j.Cost),
		Error:               toErrorDoc(j.Error),
		TraceID:             j.TraceID,
		IdempotencyKey:      j.IdempotencyKey,
		ExcludedBackends:    j.ExcludedBackends,
		CreatedAt:           j.CreatedAt,
		UpdatedAt:           j.UpdatedAt,
		CompletedAt:         j.CompletedAt,
		Redrives:            j.Redrives,
		RedrivenAt:          j.RedrivenAt,
		ExpireAt:            j.CreatedAt.Add(Retention),
	}
	if j.Error != nil {
		d.ErrorCode = j.Error.Code
	}
	if m := j.Request.MaxCostUSD; m != nil {
		v := int64(*m)
		d.Request.MaxCostMicros = &v
	}
	for i, a := range j.Attempts {
		d.Attempts[i] = attemptDoc{
			Number:              a.Number,
			Backend:             a.Backend,
			Model:               a.Model,
			Status:              string(a.Status),
			Handle:              a.Handle,
			Error:               toErrorDoc(a.Error),
			EstimatedCostMicros: int64(a.EstimatedCost),
			ReservedMicros:      int64(a.Reserved),
			BudgetShard:         a.BudgetShard,
			CostMicros:          int64(a.Cost),
			StartedAt:           a.StartedAt,
			SubmittedAt:         a.SubmittedAt,
			EndedAt:             a.EndedAt,
			LastProgressAt:      a.LastProgressAt,
			DurationSeconds:     a.DurationSeconds,
			RetryAt:             a.RetryAt,
			NotBefore:           a.NotBefore,
		}
	}
	if r := j.Result; r != nil {
		d.Result = &resultDoc{VideoURL: r.VideoURL, DurationSeconds: r.DurationSeconds}
	}
	return d
}

func fromJobDoc(id string, d jobDoc) *job.Job {
	j := &job.Job{
		ID:        id,
		ProjectID: d.ProjectID,
		UserID:    d.UserID,
		Status:    job.Status(d.Status),
		Request: job.Request{
			Prompt:          d.Request.Prompt,
			DurationSeconds: d.Request.DurationSeconds,
			Resolution:      job.Resolution(d.Request.Resolution),
			AspectRatio:     job.AspectRatio(d.Request.AspectRatio),
			QualityTier:     job.Tier(d.Request.QualityTier),
			ImageURL:        d.Request.ImageURL,
			Audio:           d.Request.Audio,
			Backends:        d.Request.Backends,
			UserID:          d.Request.UserID,
			WebhookURL:      d.Request.WebhookURL,
			DeadlineSeconds: d.Request.DeadlineSeconds,
			Metadata:        d.Request.Metadata,
		},
		Backend:          d.Backend,
		Attempts:         make([]job.Attempt, len(d.Attempts)),
		EstimatedCost:    money.Micros(d.EstimatedCostMicros),
		Cost:             money.Micros(d.CostMicros),
		Error:            fromErrorDoc(d.Error),
		TraceID:          d.TraceID,
		IdempotencyKey:   d.IdempotencyKey,
		ExcludedBackends: d.ExcludedBackends,
		CreatedAt:        d.CreatedAt,
		UpdatedAt:        d.UpdatedAt,
		CompletedAt:      d.CompletedAt,
		Redrives:         d.Redrives,
		RedrivenAt:       d.RedrivenAt,
	}
	if m := d.Request.MaxCostMicros; m != nil {
		v := money.Micros(*m)
		j.Request.MaxCostUSD = &v
	}
	for i, a := range d.Attempts {
		j.Attempts[i] = job.Attempt{
			Number:          a.Number,
			Backend:         a.Backend,
			Model:           a.Model,
			Status:          job.AttemptStatus(a.Status),
			Handle:          a.Handle,
			Error:           fromErrorDoc(a.Error),
			EstimatedCost:   money.Micros(a.EstimatedCostMicros),
			Reserved:        money.Micros(a.ReservedMicros),
			BudgetShard:     a.BudgetShard,
			Cost:            money.Micros(a.CostMicros),
			StartedAt:       a.StartedAt,
			SubmittedAt:     a.SubmittedAt,
			EndedAt:         a.EndedAt,
			LastProgressAt:  a.LastProgressAt,
			DurationSeconds: a.DurationSeconds,
			RetryAt:         a.RetryAt,
			NotBefore:       a.NotBefore,
		}
	}
	if r := d.Result; r != nil {
		j.Result = &job.Result{VideoURL: r.VideoURL, DurationSeconds: r.DurationSeconds}
	}
	// Times come back from the client in UTC already; normalise anyway so
	// that a document written by other means still reads as the port says.
	store.NormalizeTimes(j)
	return j
}

func toErrorDoc(e *job.ErrorInfo) *errorDoc {
	if e == nil {
		return nil
	}
	return &errorDoc{Code: e.Code, Message: e.Message}
}

func fromErrorDoc(e *errorDoc) *job.ErrorInfo {
	if e == nil {
		return nil
	}
	return &job.ErrorInfo{Code: e.Code, Message: e.Message}
}

func toBackendDoc(b store.BackendState) backendDoc {
	return backendDoc{Disabled: b.Disabled, Breaker: b.Breaker, UpdatedAt: b.UpdatedAt}
}

func fromBackendDoc(name string, d backendDoc) store.BackendState {
	b := store.BackendState{Name: name, Disabled: d.Disabled, Breaker: d.Breaker, UpdatedAt: store.NormalizeTime(d.UpdatedAt)}
	b.Breaker.OpenedAt = store.NormalizeTime(b.Breaker.OpenedAt)
	b.Breaker.ProbeStartedAt = store.NormalizeTime(b.Breaker.ProbeStartedAt)
	return b
}

func toEventDoc(e store.Event) eventDoc {
	return eventDoc{
		At: e.At, Stage: e.Stage, Type: e.Type, Backend: e.Backend, Attempt: e.Attempt,
		Message: e.Message, TraceID: e.TraceID, SpanID: e.SpanID,
		ExpireAt: e.At.Add(Retention),
	}
}

func fromEventDoc(id string, d eventDoc) store.Event {
	return store.Event{
		ID: id, At: store.NormalizeTime(d.At), Stage: d.Stage, Type: d.Type, Backend: d.Backend,
		Attempt: d.Attempt, Message: d.Message, TraceID: d.TraceID, SpanID: d.SpanID,
	}
}

func toAPIKeyDoc(k store.APIKey) apiKeyDoc {
	return apiKeyDoc{ProjectID: k.ProjectID, CreatedAt: k.CreatedAt, Revoked: k.Revoked, Prefix: k.Prefix,
		ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt}
}

func fromAPIKeyDoc(hash string, d apiKeyDoc) store.APIKey {
	return store.APIKey{Hash: hash, ProjectID: d.ProjectID, CreatedAt: store.NormalizeTime(d.CreatedAt), Revoked: d.Revoked,
		Prefix: d.Prefix, ExpiresAt: store.NormalizeTime(d.ExpiresAt), LastUsedAt: store.NormalizeTime(d.LastUsedAt)}
}

// reservedID matches the document ids Firestore reserves.
var reservedID = regexp.MustCompile(`^__.*__$`)

// validID reports whether id can name a Firestore document.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && len(id) <= 1500 &&
		!strings.Contains(id, "/") && !reservedID.MatchString(id)
}

// checkID returns an errclass.Permanent error for an id that cannot name a
// document.
func checkID(what, id string) error {
	if !validID(id) {
		return errclass.New(errclass.Permanent, "firestorestore: invalid %s id %q", what, id)
	}
	return nil
}

// timeNow is time.Now; events without a time get ids from it.
var timeNow = time.Now
