package fal

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	EndpointDefault     = "https://queue.fal.run"
	PollIntervalDefault = 2 * time.Second
	// CredentialEnv is the variable that conventionally holds the fal key.
	CredentialEnv = "FAL_KEY"
)

// Config configures a Backend. The zero value plus an APIKey works against
// production fal.
type Config struct {
	// Endpoint is the queue base URL (EndpointDefault when empty). The
	// status, result and cancel URLs fal returns must have its scheme and
	// host: the key is never sent anywhere else.
	Endpoint string
	// APIKey is the fal key, sent as "Authorization: Key <APIKey>". Required.
	// Reading it from the environment (FAL_KEY) is the caller's job; the
	// adapter never puts it in errors or logs.
	APIKey string
	// HTTPClient sends the requests; a client with
	// providerhttp.HTTPTimeoutDefault (60 s) when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports (PollIntervalDefault when 0).
	PollInterval time.Duration
	// DisableQueueRetries sends "x-fal-no-retry: 1" on submissions, so fal's
	// queue does not retry 503/504/429/connection failures of the runner by
	// itself (it does up to 10 times by default). Those retries keep the same
	// request id, are not billed and cannot duplicate a generation, so the
	// default (false) is right for AIPROD; set it to fail fast instead.
	DisableQueueRetries bool
}

// WithDefaults returns c with the zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Endpoint = strings.TrimRight(cmp.Or(c.Endpoint, EndpointDefault), "/")
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	c.HTTPClient = providerhttp.HTTPClientOr(c.HTTPClient)
	return c
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	return falAPI.Validate(c.Endpoint, c.PollInterval, c.APIKey)
}

// falAPI is how the adapter reaches fal's queue. Its answers are small
// JSON: 4 MiB is ample.
var falAPI = providerhttp.API{Provider: "fal", Scheme: "Key", KeyEnv: CredentialEnv, MaxBody: 4 << 20, Problem: problem}

// Backend is the fal adapter. It keeps no per-request state, so any worker
// instance can poll or cancel any handle; it is safe for concurrent use.
type Backend struct {
	cfg  Config
	base *url.URL
	api  *providerhttp.Client
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.Endpoint) // validated above
	return &Backend{cfg: cfg, base: base, api: falAPI.Client(cfg.HTTPClient, cfg.APIKey)}, nil
}

// PollInterval is how often to poll a fal request.
func (b *Backend) PollInterval() time.Duration { return b.cfg.PollInterval }

// handle is the serialized Handle: fal's queue response, plus the duration
// asked for (fal's result does not report it).
type handle struct {
	RequestID       string `json:"request_id"`
	Model           string `json:"model"`
	StatusURL       string `json:"status_url"`
	ResponseURL     string `json:"response_url"`
	CancelURL       string `json:"cancel_url"`
	DurationSeconds int    `json:"duration_seconds,omitempty"`
}

// Submit queues a generation (POST {Endpoint}/{model id}) and returns a
// handle holding the status, result and cancel URLs fal returned. A request
// the model cannot serve fails with errclass.Permanent before any call.
//
// fal has no idempotency key: a Submit whose outcome is unknown (a transport
// error after the request left, or an unreadable 2xx answer) may have queued
// a billed generation. Such errors are Retryable and say so; see the package
// doc for the duplicate-submission rule.
func (b *Backend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	p, err := planRequest(req)
	if err != nil {
		return "", err
	}
	op := "submit " + p.modelID
	var hdr http.Header
	if b.cfg.DisableQueueRetries {
		hdr = http.Header{"X-Fal-No-Retry": {"1"}}
	}
	var q struct {
		RequestID   string `json:"request_id"`
		StatusURL   string `json:"status_url"`
		ResponseURL string `json:"response_url"`
		CancelURL   string `json:"cancel_url"`
	}
	r, err := b.api.Call(ctx, providerhttp.Request{Method: http.MethodPost, URL: b.cfg.Endpoint + "/" + p.modelID, Op: op, Body: p.input, Header: hdr},
		&q, "body (the request may be queued)")
	if err != nil {
		return "", err
	}
	if _, err := providerhttp.PathSegment("fal", q.RequestID, "a request id"); err != nil {
		return "", b.api.Errorf(errclass.Retryable, op, "HTTP %d without a usable request_id (the request may be queued)", r.Status)
	}
	// fal says to use the returned URLs. They are built from the owner and
	// app of the model id; a missing one, or one on another host (where the
	// key must not go), is rebuilt the same way on the Endpoint.
	root := b.cfg.Endpoint + "/" + ownerApp(p.modelID) + "/requests/" + url.PathEscape(q.RequestID)
	h := handle{
		RequestID:       q.RequestID,
		Model:           p.modelID,
		StatusURL:       b.sameOrigin(q.StatusURL, root+"/status"),
		ResponseURL:     b.sameOrigin(q.ResponseURL, root),
		CancelURL:       b.sameOrigin(q.CancelURL, root+"/cancel"),
		DurationSeconds: req.DurationSeconds,
	}
	enc, err := json.Marshal(h)
	if err != nil {
		return "", errclass.Wrap(errclass.Retryable, err, "fal: "+op+": encode handle (the request is queued as "+q.RequestID+")")
	}
	return backend.Handle(enc), nil
}

// ownerApp returns the "owner/app" of a model id ("fal-ai/veo3.1/fast" →
// "fal-ai/veo3.1"): status, result and cancel URLs use only those.
func ownerApp(modelID string) string {
	parts := strings.SplitN(modelID, "/", 3)
	if len(parts) < 2 {
		return modelID
	}
	return parts[0] + "/" + parts[1]
}

// sameOrigin returns raw when it is an absolute URL with the Endpoint's
// scheme and host, else fallback.
func (b *Backend) sameOrigin(raw, fallback string) string {
	if b.originOK(raw) {
		return raw
	}
	return fallback
}

func (b *Backend) originOK(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && raw != "" && u.Scheme == b.base.Scheme && strings.EqualFold(u.Host, b.base.Host)
}

func (b *Backend) decodeHandle(h backend.Handle) (handle, error) {
	var hd handle
	if err := json.Unmarshal([]byte(h), &hd); err != nil {
		return handle{}, errclass.Wrap(errclass.Permanent, err, fmt.Sprintf("fal: invalid handle %q", providerhttp.Clip(string(h))))
	}
	if hd.RequestID == "" {
		return handle{}, errclass.New(errclass.Permanent, "fal: invalid handle %q: no request_id", providerhttp.Clip(string(h)))
	}
	for _, u := range []string{hd.StatusURL, hd.ResponseURL, hd.CancelURL} {
		if !b.originOK(u) {
			return handle{}, errclass.New(errclass.Permanent,
				"fal: handle of request %s has URL %q outside the endpoint %s", hd.RequestID, providerhttp.Clip(u), b.cfg.Endpoint)
		}
	}
	return hd, nil
}

// queueStatus is the answer of GET status_url.
type queueStatus struct {
	Status        string          `json:"status"`
	QueuePosition *int            `json:"queue_position"`
	Error         json.RawMessage `json:"error"`
	ErrorType     string          `json:"error_type"`
}

// result is the model output at response_url: {"video": {"url": ...}}.
type result struct {
	Video *struct {
		URL string `json:"url"`
	} `json:"video"`
	Videos []struct {
		URL string `json:"url"`
	} `json:"videos"`
}

func (r result) videoURL() string {
	if r.Video != nil && r.Video.URL != "" {
		return r.Video.URL
	}
	for _, v := range r.Videos {
		if v.URL != "" {
			return v.URL
		}
	}
	return ""
}

// Poll reads the request's status (GET status_url). IN_QUEUE is pending,
// IN_PROGRESS running. COMPLETED fetches the result (GET response_url): the
// video URL on success, or a failed Status whose Err is classified (see
// failureClass) when the status carries an error or the result is an error
// response. A request fal no longer knows is an errclass.NotFound error.
func (b *Backend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	hd, err := b.decodeHandle(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "status of " + hd.RequestID
	var st queueStatus
	req := providerhttp.Request{Method: http.MethodGet, URL: hd.StatusURL, Op: op}
	if _, err := b.api.Call(ctx, req, &st, "status body", http.StatusOK, http.StatusAccepted); err != nil {
		return backend.Status{}, err
	}
	switch strings.ToUpper(st.Status) {
	case "IN_QUEUE":
		return backend.Status{State: backend.StatePending}, nil
	case "IN_PROGRESS":
		return backend.Status{State: backend.StateRunning}, nil
	case "COMPLETED":
		return b.completed(ctx, hd, st)
	case "CANCELED", "CANCELLED":
		// Not in fal's documented lifecycle; accepted defensively.
		return backend.Status{State: backend.StateCanceled, Billed: true}, nil
	case "FAILED":
		return failed(hd, failureClass([]string{st.ErrorType}, 0), cmp.Or(providerhttp.JSONText(st.Error), "FAILED")), nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "fal: %s: unknown status %q", op, providerhttp.Clip(st.Status))
}

// completed turns a COMPLETED status into the final Status.
func (b *Backend) completed(ctx context.Context, hd handle, st queueStatus) (backend.Status, error) {
	errText := providerhttp.JSONText(st.Error)
	if canceledType(st.ErrorType) {
		// A canceled request may have run for a while: assume billed.
		return backend.Status{State: backend.StateCanceled, Billed: true}, nil
	}
	op := "result of " + hd.RequestID
	r, err := b.api.Do(ctx, providerhttp.Request{Method: http.MethodGet, URL: hd.ResponseURL, Op: op})
	if err != nil {
		if errText != "" {
			// The status already says it failed; classify without the result.
			return failed(hd, failureClass([]string{st.ErrorType}, 0), errText), nil
		}
		return backend.Status{}, err
	}
	d := parseDetail(r.Body, r.Header)
	switch {
	case errText == "" && r.Status == http.StatusOK:
		var out result
		if err := json.Unmarshal(r.Body, &out); err != nil {
			return backend.Status{}, errclass.Wrap(errclass.Retryable, err, "fal: "+op+": unreadable result body")
		}
		u := out.videoURL()
		if u == "" {
			// Completed and presumably billed, but unusable: retrying the
			// poll will not change it.
			return backend.Status{
				State:  backend.StateFailed,
				Err:    errclass.New(errclass.Retryable, "fal: request %s completed without a video URL", hd.RequestID),
				Billed: true,
			}, nil
		}
		return backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: u, DurationSeconds: hd.DurationSeconds}, nil
	case errText != "" || resultIsFailure(r, d):
		types := append([]string{st.ErrorType}, d.types...)
		if canceledType(strings.Join(types, " ")) {
			return backend.Status{State: backend.StateCanceled, Billed: true}, nil
		}
		msg := errText
		if resultIsFailure(r, d) {
			msg = cmp.Or(d.message, errText)
		}
		// A result call that itself failed (429, 5xx) says nothing about
		// the generation: the status's error decides, and its status code
		// is not the result's.
		status := r.Status
		if !resultIsFailure(r, d) {
			status = 0
		}
		return failed(hd, failureClass(types, status), r.Redact(msg)), nil
	}
	return backend.Status{}, b.api.Error(op, r)
}

// resultIsFailure reports whether a non-200 answer of response_url is the
// stored outcome of a failed generation, not a failure of this call: a 4xx
// other than auth, not-found and rate-limit, or a 5xx that fal marked as a
// request error (error body or X-Fal-Error-Type).
func resultIsFailure(r *providerhttp.Response, d detail) bool {
	switch {
	case r.Status == http.StatusOK:
		return false
	case r.Status == http.StatusUnauthorized, r.Status == http.StatusForbidden,
		r.Status == http.StatusNotFound, r.Status == http.StatusTooManyRequests:
		return false
	case r.Status >= 400 && r.Status < 500:
		return true
	case r.Status >= 500:
		return d.present && len(d.types) > 0
	}
	return false
}

func failed(hd handle, class error, msg string) backend.Status {
	// fal bills neither server errors nor rejected inputs.
	return backend.Status{
		State: backend.StateFailed,
		Err:   errclass.New(class, "fal: request %s (%s) failed: %s", hd.RequestID, hd.Model, orEmpty(msg)),
	}
}

// Cancel asks fal to cancel the request (PUT cancel_url). A queued request
// is removed; a running one gets a cancellation signal that the model may
// honour. ALREADY_COMPLETED and NOT_FOUND answers are not errors.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	hd, err := b.decodeHandle(h)
	if err != nil {
		return err
	}
	return b.api.Cancel(ctx, providerhttp.Request{Method: http.MethodPut, URL: hd.CancelURL, Op: "cancel " + hd.RequestID}, alreadyDone)
}

// alreadyDone reports whether a cancel answer says there is nothing left to
// cancel: a 400 whose status is ALREADY_COMPLETED or NOT_FOUND.
func alreadyDone(r *providerhttp.Response) bool {
	var body struct {
		Status string `json:"status"`
	}
	if r.Status != http.StatusBadRequest || json.Unmarshal(r.Body, &body) != nil {
		return false
	}
	return body.Status == "ALREADY_COMPLETED" || body.Status == "NOT_FOUND"
}
