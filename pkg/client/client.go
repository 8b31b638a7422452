// Package client is the Go SDK for systems that send work to AIPROD.
//
// Two ways in, one job model:
//
//   - over HTTP (New): POST /v1/jobs with an API key, then follow the job
//     with Get, ListJobs (List), Events and Cancel; operators search every
//     project's jobs with AdminListJobs and the admin key;
//   - straight to Pub/Sub (Publish): publish a job request to aiprod-jobs
//     with the project in the project_id attribute, for upstream systems
//     that already hold IAM credentials for the topic.
//
// Jobs, attempts and timeline events come back as this package's types
// (Job, Attempt, Event, JobList), which are the API's public JSON shapes:
// the API server renders its answers into them. A request is a JobRequest.
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
// The API validates req: a bad one is an *APIError with Field set.
func (c *Client) Submit(ctx context.Context, req JobRequest, opts SubmitOptions) (*Job, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("aiprod: encode job request: %w", err)
	}
	return c.SubmitRaw(ctx, body, opts)
}

// SubmitRaw posts a raw JSON body, for tools that pass user JSON through
// unchanged so that the API's validation speaks for itself.
func (c *Client) SubmitRaw(ctx context.Context, body []byte, opts SubmitOptions) (*Job, error) {
	h := http.Header{}
	if opts.IdempotencyKey != "" {
		h.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	var j Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", h, body, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Get returns a job of the client's project; a job that is absent or
// another project's is a 404 (IsNotFound).
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Cancel cancels a job and returns it, canceled. Canceling a job that is
// already terminal is a 409 *APIError (code conflict).
func (c *Client) Cancel(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// List returns one page of the project's jobs, newest first. status and
// pageToken may be empty; limit 0 is the server's default. It is ListJobs
// with those three options.
func (c *Client) List(ctx context.Context, status Status, limit int, pageToken string) (*JobList, error) {
	return c.ListJobs(ctx, ListOptions{Status: status, Limit: limit, PageToken: pageToken})
}

// ListOptions selects and pages the jobs of ListJobs and AdminListJobs.
// The filters AND together; zero values do not filter.
type ListOptions struct {
	Status    Status
	Backend   string    // the backend that served the job last
	ErrorCode string    // the job's error code, e.g. backend_failed
	UserID    string    // the request's user_id
	Since     time.Time // created at or after Since
	Until     time.Time // created before Until
	Limit     int       // jobs per page, 1..500; 0 is the server's default (50)
	PageToken string    // NextPageToken of the previous page; "" for the first
}

// values is o as the query parameters of GET /v1/jobs.
func (o ListOptions) values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", string(o.Status))
	set("backend", o.Backend)
	set("error_code", o.ErrorCode)
	set("user_id", o.UserID)
	if !o.Since.IsZero() {
		set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		set("until", o.Until.UTC().Format(time.RFC3339Nano))
	}
	if o.Limit > 0 {
		set("limit", strconv.Itoa(o.Limit))
	}
	set("page_token", o.PageToken)
	return q
}

// ListJobs returns one page of the project's jobs that opts selects,
// newest first (GET /v1/jobs). A bad option is an *APIError whose Field
// names the parameter (backend, since, ...).
func (c *Client) ListJobs(ctx context.Context, opts ListOptions) (*JobList, error) {
	return c.listJobs(ctx, "/v1/jobs", opts.values())
}

// AdminListJobs is the failed-job search of operators (GET
// /v1/admin/jobs): the jobs opts selects in project, or in every project
// when project is "". The client's key must be the admin key.
func (c *Client) AdminListJobs(ctx context.Context, project string, opts ListOptions) (*JobList, error) {
	q := opts.values()
	if project != "" {
		q.Set("project", project)
	}
	return c.listJobs(ctx, "/v1/admin/jobs", q)
}

func (c *Client) listJobs(ctx context.Context, path string, q url.Values) (*JobList, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var p JobList
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Events returns a job's timeline, oldest event first.
func (c *Client) Events(ctx context.Context, id string) ([]Event, error) {
	var out EventList
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
	// Stats are what routing learned of the backend from its settled
	// attempts (package learn).
	Stats *BackendStats `json:"stats,omitempty"`
	// Concurrency is the backend's cap on generations running at once and
	// InFlight how many run now, across every worker; both absent for a
	// backend without a cap.
	Concurrency int  `json:"concurrency,omitempty"`
	InFlight    *int `json:"in_flight,omitempty"`
}

// BackendStats are the figures routing learned of a backend: over every
// job shape it served (the top-level fields), and per shape (Shapes, the
// figures routing ranks a job of that shape by). Before any attempt of a
// backend is settled they are its prior: success_rate 0.9, p50 60 s, p95
// 120 s, samples 0.
type BackendStats struct {
	StatsFigures
	// LastSampleAt is the settlement time of the latest attempt learned
	// from; absent when none.
	LastSampleAt *time.Time   `json:"last_sample_at,omitempty"`
	Shapes       []ShapeStats `json:"shapes"`
}

// StatsFigures are learned figures (package learn, Figures).
type StatsFigures struct {
	// SuccessRate is the probability that an attempt succeeds (the mean of
	// a Beta posterior, its prior included).
	SuccessRate float64 `json:"success_rate"`
	// P50Seconds and P95Seconds are generation times, submit to result.
	P50Seconds float64 `json:"p50_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	// Samples is how many attempts they rest on (decayed: an attempt a day
	// old counts half), rounded.
	Samples int `json:"samples"`
	// CostAccuracy is the actual cost of a success over its estimate.
	CostAccuracy float64 `json:"cost_accuracy"`
}

// ShapeStats are the figures of one job shape: "standard/720p/5s/t2v"
// (tier, resolution, duration up to 5, 10, 20 or 60 s, text or image to
// video).
type ShapeStats struct {
	Shape string `json:"shape"`
	StatsFigures
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

// Wait polls a job every interval (500 ms when every <= 0) until it is
// terminal, and returns it. progress, when not nil, is called with the job
// whenever its status changes, from Wait's goroutine. When ctx is done
// first, Wait returns the job as last seen with ctx's error.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration, progress func(*Job)) (*Job, error) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	var last Status
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

// Spans returns the spans of job id's trace that the stack keeps in memory
// (aiprod dev), by start time. A stack that keeps none answers 404
// (IsNotFound).
func (c *Client) Spans(ctx context.Context, id string) ([]Span, error) {
	var out SpanList
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/spans", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Spans, nil
}
