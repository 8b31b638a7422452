// Package client is the Go SDK for systems that send work to AIPROD.
//
// Two ways in, one job model:
//
//   - over HTTP (New): POST /v1/jobs with an API key, then follow the job
//     with Get, List, Events and Cancel;
//   - straight to Pub/Sub (Publish): publish a job request to aiprod-jobs
//     with the project in the project_id attribute, for upstream systems
//     that already hold IAM credentials for the topic.
//
// Errors from the API are *APIError, carrying the HTTP status, the error
// code and, for validation errors, the field at fault.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// Client talks to AIPROD's HTTP API. Safe for concurrent use.
type Client struct {
	base string
	key  string
	http *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: 30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the API at base (e.g. http://127.0.0.1:8080)
// authenticating with apiKey.
func New(base, apiKey string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), key: apiKey, http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an error answered by the API.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("aiprod: %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// IsNotFound reports whether err is an API 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// SubmitOptions are optional settings of Submit.
type SubmitOptions struct {
	// IdempotencyKey makes retries safe: the same key gives the same job.
	IdempotencyKey string
}

// Submit creates a job and returns it as accepted (status queued or later).
func (c *Client) Submit(ctx context.Context, req job.Request, opts SubmitOptions) (*job.Job, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if opts.IdempotencyKey != "" {
		h.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	var j job.Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", h, body, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// SubmitRaw posts a raw JSON body, for tools that pass user JSON through
// unchanged so that the API's validation speaks for itself.
func (c *Client) SubmitRaw(ctx context.Context, body []byte, opts SubmitOptions) (*job.Job, error) {
	h := http.Header{}
	if opts.IdempotencyKey != "" {
		h.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	var j job.Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", h, body, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Get returns a job.
func (c *Client) Get(ctx context.Context, id string) (*job.Job, error) {
	var j job.Job
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (*job.Job, error) {
	var j job.Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Page is one page of List.
type Page struct {
	Jobs          []*job.Job `json:"jobs"`
	NextPageToken string     `json:"next_page_token"`
}

// List returns one page of the project's jobs, newest first. status and
// pageToken may be empty; limit 0 is the server's default.
func (c *Client) List(ctx context.Context, status job.Status, limit int, pageToken string) (*Page, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", string(status))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var p Page
	path := "/v1/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Events returns a job's timeline.
func (c *Client) Events(ctx context.Context, id string) ([]store.Event, error) {
	var out struct {
		Events []store.Event `json:"events"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/events", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// Backend is one entry of GET /v1/backends.
type Backend struct {
	Name                string          `json:"name"`
	Enabled             bool            `json:"enabled"`
	Circuit             string          `json:"circuit"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	LastError           string          `json:"last_error,omitempty"`
	Capabilities        json.RawMessage `json:"capabilities,omitempty"`
	Prices              json.RawMessage `json:"prices,omitempty"`
	Endpoint            string          `json:"endpoint,omitempty"`
}

// Backends lists the backends and their health.
func (c *Client) Backends(ctx context.Context) ([]Backend, error) {
	var out struct {
		Backends []Backend `json:"backends"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/backends", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Backends, nil
}

// Wait polls a job until it is terminal or ctx is done, calling progress (if
// not nil) whenever its status changes.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration, progress func(*job.Job)) (*job.Job, error) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	var last job.Status
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		j, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.Status != last && progress != nil {
			progress(j)
		}
		last = j.Status
		if j.Status.Terminal() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

// Do sends an arbitrary request to the API with the client's key and decodes
// a JSON answer into out (when not nil). For routes the SDK has no method for.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, out any) error {
	return c.do(ctx, method, path, nil, body, out)
}

func (c *Client) do(ctx context.Context, method, path string, h http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("aiprod: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("aiprod: %s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var env struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(b, &env) != nil || env.Error.Code == "" {
			env.Error = APIError{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(b))}
		}
		env.Error.Status = resp.StatusCode
		return &env.Error
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("aiprod: %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
