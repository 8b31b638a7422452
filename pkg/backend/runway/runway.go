package runway

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	// EndpointDefault is Runway's public API base URL.
	EndpointDefault = "https://api.dev.runwayml.com"
	// PollIntervalDefault is Runway's guidance: poll a task no more often
	// than every 5 seconds.
	PollIntervalDefault = 5 * time.Second
	// APIVersion is the X-Runway-Version the adapter speaks.
	APIVersion = "2024-11-06"
	// CredentialEnv is the variable that conventionally holds the API key.
	CredentialEnv = "RUNWAYML_API_SECRET"
)

// Config configures a Backend. The zero value of every field but APIKey
// takes a default (WithDefaults).
type Config struct {
	// Endpoint is the API base URL, without /v1; EndpointDefault when empty.
	Endpoint string
	// APIKey is the Runway API secret sent as a bearer token. Required. It
	// is never written into errors or logs.
	APIKey string
	// HTTPClient makes the calls; a client with
	// providerhttp.HTTPTimeoutDefault (60 s) when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports; PollIntervalDefault when
	// zero. The dev stack sets it lower against the simulator.
	PollInterval time.Duration
}

// WithDefaults returns c with the defaults filled in.
func (c Config) WithDefaults() Config {
	c.Endpoint = cmp.Or(c.Endpoint, EndpointDefault)
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	c.HTTPClient = providerhttp.HTTPClientOr(c.HTTPClient)
	return c
}

// Validate checks a config whose defaults are applied.
func (c Config) Validate() error {
	return runwayAPI.Validate(c.Endpoint, c.PollInterval, c.APIKey)
}

// runwayAPI is how the adapter reaches Runway's API; its error body is
// {"error": "..."}. Out of credits is the backend's trouble, not the job's:
// Client.Error classes a 402 Retryable.
var runwayAPI = providerhttp.API{
	Provider: "runway", Scheme: "Bearer", KeyEnv: CredentialEnv, Problem: providerhttp.MessageField("error"),
	Header: http.Header{"X-Runway-Version": {APIVersion}},
}

// Backend is the Runway adapter. It is safe for concurrent use and holds no
// state besides its configuration: a Handle is Runway's task id, so any
// instance can poll or cancel any task.
type Backend struct {
	cfg   Config
	base  string // Endpoint without a trailing slash
	tasks providerhttp.Collection[task]
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.Endpoint, "/")
	return &Backend{cfg: cfg, base: base, tasks: providerhttp.Collection[task]{
		API:    runwayAPI.Client(cfg.HTTPClient, cfg.APIKey),
		URL:    base + "/v1/tasks",
		Noun:   "task",
		Status: task.status,
		// On a finished task Runway deletes it instead.
		Stop: providerhttp.Stop{Method: http.MethodDelete, Verb: "cancel"},
	}}, nil
}

// PollInterval is how often Runway wants a task polled.
func (b *Backend) PollInterval() time.Duration { return b.cfg.PollInterval }

// Submit starts a task: POST /v1/text_to_video without an image,
// POST /v1/image_to_video with one. A request the model cannot serve fails
// with errclass.Permanent before anything is sent. The handle is the task id.
//
// Runway has no idempotency key: a Submit whose outcome is unknown (a
// transport error after the request left, or an unreadable 2xx answer) may
// have created a billed task. Such errors are Retryable and say so; see the
// package doc for the duplicate-submission rule.
func (b *Backend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	p, err := planRequest(req)
	if err != nil {
		return "", err
	}
	op := "create task (" + strings.TrimPrefix(p.path, "/v1/") + ")"
	return b.tasks.Create(ctx, providerhttp.Request{Method: http.MethodPost, URL: b.base + p.path, Op: op, Body: p.body})
}

// task is Runway's task object (GET /v1/tasks/{id}).
type task struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	CreatedAt   string   `json:"createdAt"`
	Progress    *float64 `json:"progress"`
	Output      []string `json:"output"`
	Failure     string   `json:"failure"`
	FailureCode string   `json:"failureCode"`
}

// Poll reads the task. PENDING and THROTTLED are pending, RUNNING is
// running with its progress, SUCCEEDED carries output[0] as the video URL,
// FAILED carries Err classified by failureCode, CANCELLED is canceled.
//
// Runway's task does not report the video's duration, so DurationSeconds
// stays zero: the generated duration is the one submitted. A task Runway
// does not know is an errclass.NotFound error.
func (b *Backend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	return b.tasks.Poll(ctx, h)
}

func (t task) status(op string) (backend.Status, error) {
	switch t.Status {
	case "PENDING", "THROTTLED":
		return backend.Status{State: backend.StatePending}, nil
	case "RUNNING":
		p := 0.0
		if t.Progress != nil {
			p = min(max(*t.Progress, 0), 1)
		}
		return backend.Status{State: backend.StateRunning, Progress: p}, nil
	case "SUCCEEDED":
		if len(t.Output) == 0 || t.Output[0] == "" {
			return backend.Status{}, errclass.New(errclass.Retryable, "runway: %s: SUCCEEDED without output", op)
		}
		return backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: t.Output[0]}, nil
	case "FAILED":
		code := cmp.Or(t.FailureCode, "UNKNOWN")
		reason := cmp.Or(providerhttp.Clip(t.Failure), "no reason given")
		// Runway returns credits for failed generations.
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(failureClass(code), "runway: task failed: %s: %s", code, reason),
		}, nil
	case "CANCELLED":
		// Runway does not document refunds for canceled tasks: assume billed.
		return backend.Status{State: backend.StateCanceled, Billed: true}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "runway: %s: unknown task status %q", op, providerhttp.Clip(t.Status))
}

// Cancel cancels a pending or running task (DELETE /v1/tasks/{id}); on a
// finished task Runway deletes it instead. An unknown task is not an error.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	return b.tasks.Cancel(ctx, h)
}
