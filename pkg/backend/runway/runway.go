package runway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	// EndpointDefault is Runway's public API base URL.
	EndpointDefault = "https://api.dev.runwayml.com"
	// PollIntervalDefault is Runway's guidance: poll a task no more often
	// than every 5 seconds.
	PollIntervalDefault = 5 * time.Second
	// HTTPTimeoutDefault bounds one API call when Config.HTTPClient is nil.
	HTTPTimeoutDefault = 60 * time.Second
	// APIVersion is the X-Runway-Version the adapter speaks.
	APIVersion = "2024-11-06"
	// CredentialEnv is the variable that conventionally holds the API key.
	CredentialEnv = "RUNWAYML_API_SECRET"
)

// maxBody caps how much of a response the adapter reads.
const maxBody = 1 << 20

// Config configures a Backend. The zero value of every field but APIKey
// takes a default (WithDefaults).
type Config struct {
	// Endpoint is the API base URL, without /v1; EndpointDefault when empty.
	Endpoint string
	// APIKey is the Runway API secret sent as a bearer token. Required. It
	// is never written into errors or logs.
	APIKey string
	// HTTPClient makes the calls; a client with HTTPTimeoutDefault when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports; PollIntervalDefault when
	// zero. The dev stack sets it lower against the simulator.
	PollInterval time.Duration
}

// WithDefaults returns c with the defaults filled in.
func (c Config) WithDefaults() Config {
	c.Endpoint = cmp.Or(c.Endpoint, EndpointDefault)
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: HTTPTimeoutDefault}
	}
	return c
}

// Validate checks a config whose defaults are applied.
func (c Config) Validate() error {
	if strings.TrimSpace(c.APIKey) == "" {
		return fmt.Errorf("runway: Config.APIKey is required (set %s)", CredentialEnv)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("runway: Config.Endpoint must be an absolute http(s) URL, got %q", c.Endpoint)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("runway: Config.PollInterval must not be negative, got %s", c.PollInterval)
	}
	return nil
}

// Backend is the Runway adapter. It is safe for concurrent use and holds no
// state besides its configuration: a Handle is Runway's task id, so any
// instance can poll or cancel any task.
type Backend struct {
	cfg  Config
	base string // Endpoint without a trailing slash
	now  func() time.Time
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, base: strings.TrimRight(cfg.Endpoint, "/"), now: time.Now}, nil
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
	body, err := json.Marshal(p.body)
	if err != nil {
		return "", errclass.Wrap(errclass.Permanent, err, "runway: encode request")
	}
	op := "create task (" + strings.TrimPrefix(p.path, "/v1/") + ")"
	resp, data, err := b.do(ctx, http.MethodPost, p.path, body, op)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", httpError(op, resp, data, b.now())
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &created); err != nil {
		return "", errclass.Wrap(errclass.Retryable, err,
			fmt.Sprintf("runway: %s: HTTP %d with an unreadable body (the task may exist)", op, resp.StatusCode))
	}
	if created.ID == "" {
		return "", errclass.New(errclass.Retryable, "runway: %s: HTTP %d without a task id (the task may exist)", op, resp.StatusCode)
	}
	return backend.Handle(created.ID), nil
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
	id, err := taskID(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "get task " + id
	resp, data, err := b.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, op)
	if err != nil {
		return backend.Status{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return backend.Status{}, httpError(op, resp, data, b.now())
	}
	var t task
	if err := json.Unmarshal(data, &t); err != nil {
		return backend.Status{}, errclass.Wrap(errclass.Retryable, err, "runway: "+op+": unreadable task body")
	}
	return t.status(op)
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
		reason := cmp.Or(clip(t.Failure), "no reason given")
		// Runway returns credits for failed generations.
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(failureClass(code), "runway: task failed: %s: %s", code, reason),
		}, nil
	case "CANCELLED":
		// Runway does not document refunds for canceled tasks: assume billed.
		return backend.Status{State: backend.StateCanceled, Billed: true}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "runway: %s: unknown task status %q", op, clip(t.Status))
}

// Cancel cancels a pending or running task (DELETE /v1/tasks/{id}); on a
// finished task Runway deletes it instead. An unknown task is not an error.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	id, err := taskID(h)
	if err != nil {
		return err
	}
	op := "cancel task " + id
	resp, data, err := b.do(ctx, http.MethodDelete, "/v1/tasks/"+url.PathEscape(id), nil, op)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return httpError(op, resp, data, b.now())
}

func taskID(h backend.Handle) (string, error) {
	id := strings.TrimSpace(string(h))
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", errclass.New(errclass.Permanent, "runway: invalid handle %q: want a task id", clip(string(h)))
	}
	return id, nil
}

// do sends one request and reads at most maxBody of the answer. Transport
// failures are Retryable (and keep the cause, so errors.Is finds
// context.Canceled); their text never includes headers.
func (b *Backend) do(ctx context.Context, method, path string, body []byte, op string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Permanent, err, "runway: "+op+": build request")
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	req.Header.Set("X-Runway-Version", APIVersion)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Retryable, redact(err, b.cfg.APIKey), "runway: "+op)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Retryable, redact(err, b.cfg.APIKey), fmt.Sprintf("runway: %s: HTTP %d, reading body", op, resp.StatusCode))
	}
	return resp, data, nil
}

// redact guards against a transport error that quotes the key (none in the
// standard library does; a custom RoundTripper might).
func redact(err error, key string) error {
	if key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), key, "[REDACTED]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }

// Is lets errors.Is see context errors through the redaction without
// exposing the original text through Unwrap.
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
