package replicate

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
	EndpointDefault     = "https://api.replicate.com"
	PollIntervalDefault = 2 * time.Second
	// CancelAfterDefault is the deadline sent with every prediction: well
	// above a Veo generation's few minutes, short enough that a prediction
	// stuck in the queue is aborted (not billed) instead of running late.
	CancelAfterDefault = 15 * time.Minute
	HTTPTimeoutDefault = 60 * time.Second
)

// maxBody caps a response body we read (predictions are small JSON).
const maxBody = 4 << 20

// Config configures a Backend. The zero value plus an APIKey works against
// production Replicate.
type Config struct {
	// Endpoint is the API base URL (EndpointDefault when empty).
	Endpoint string
	// APIKey is the API token, sent as "Authorization: Bearer <APIKey>".
	// Required. Reading it from the environment (REPLICATE_API_TOKEN) is the
	// caller's job; the adapter never puts it in errors or logs.
	APIKey string
	// HTTPClient sends the requests; a client with HTTPTimeoutDefault when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports (PollIntervalDefault when 0).
	PollInterval time.Duration
	// CancelAfter is sent as the Cancel-After header of every prediction:
	// Replicate aborts a prediction that has not started by then (status
	// "aborted", not billed) and cancels one still running (billed).
	// CancelAfterDefault when 0; negative sends no header.
	CancelAfter time.Duration
}

// WithDefaults returns c with the zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Endpoint = strings.TrimRight(cmp.Or(c.Endpoint, EndpointDefault), "/")
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	c.CancelAfter = cmp.Or(c.CancelAfter, CancelAfterDefault)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: HTTPTimeoutDefault}
	}
	return c
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	if c.APIKey == "" {
		return errors.New("replicate: Config.APIKey is empty (usually read from REPLICATE_API_TOKEN)")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("replicate: Config.Endpoint %q must be an absolute http(s) URL", c.Endpoint)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("replicate: Config.PollInterval %s must not be negative", c.PollInterval)
	}
	if c.CancelAfter > 0 && c.CancelAfter < time.Second {
		return fmt.Errorf("replicate: Config.CancelAfter %s must be at least 1s (or negative for none)", c.CancelAfter)
	}
	return nil
}

// Backend is the Replicate adapter. It keeps no per-prediction state, so
// any worker instance can poll or cancel any handle; it is safe for
// concurrent use.
type Backend struct {
	cfg Config
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg}, nil
}

// PollInterval is how often to poll a prediction.
func (b *Backend) PollInterval() time.Duration { return b.cfg.PollInterval }

// formatCancelAfter writes d the way Replicate's examples do ("15m", "1h",
// "90s"), rounding up to whole seconds.
func formatCancelAfter(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", (d+time.Second-1)/time.Second)
}

// Submit creates a prediction (POST /v1/models/{owner}/{name}/predictions
// {"input": ...}) with the Cancel-After deadline and returns its id as the
// handle. It does not send "Prefer: wait": a video takes minutes, far over
// the 60 s such a request may block. A request the model cannot serve fails
// with errclass.Permanent before any call.
//
// Replicate has no idempotency key: a Submit whose outcome is unknown (a
// transport error after the request left, or an unreadable 2xx answer) may
// have created a billed prediction. Such errors are Retryable and say so;
// see the package doc for reconciliation.
func (b *Backend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	owner, name, in, err := planRequest(req)
	if err != nil {
		return "", err
	}
	op := "create prediction of " + req.Model
	hdr := http.Header{}
	if b.cfg.CancelAfter > 0 {
		hdr.Set("Cancel-After", formatCancelAfter(b.cfg.CancelAfter))
	}
	path := "/v1/models/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/predictions"
	r, err := b.do(ctx, http.MethodPost, path, map[string]any{"input": in}, hdr, op)
	if err != nil {
		return "", err
	}
	if r.status/100 != 2 {
		return "", b.httpError(op, r)
	}
	var p prediction
	if err := json.Unmarshal(r.body, &p); err != nil {
		return "", errclass.Wrap(errclass.Retryable, err,
			fmt.Sprintf("replicate: %s: HTTP %d with an unreadable body (the prediction may exist)", op, r.status))
	}
	if _, err := predictionID(backend.Handle(p.ID)); err != nil {
		return "", errclass.New(errclass.Retryable, "replicate: %s: HTTP %d without a usable id (the prediction may exist)", op, r.status)
	}
	return backend.Handle(p.ID), nil
}

// prediction is Replicate's prediction object.
type prediction struct {
	ID        string                     `json:"id"`
	Model     string                     `json:"model"`
	Status    string                     `json:"status"`
	Input     map[string]json.RawMessage `json:"input"`
	Output    json.RawMessage            `json:"output"`
	Error     json.RawMessage            `json:"error"`
	StartedAt *string                    `json:"started_at"`
	Metrics   struct {
		PredictTime *float64 `json:"predict_time"`
	} `json:"metrics"`
}

func (p prediction) errorText() string {
	if len(p.Error) == 0 || string(p.Error) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(p.Error, &s) == nil {
		return clip(s)
	}
	return clip(string(p.Error))
}

// duration reads the input's duration, echoed in the prediction; 0 when it
// is missing or not a number.
func (p prediction) duration() int {
	var d float64
	if json.Unmarshal(p.Input["duration"], &d) != nil || d < 0 || d > 3600 {
		return 0
	}
	return int(d)
}

// videoURL reads output: a URL string, or a list whose first item is one.
func (p prediction) videoURL() string {
	var s string
	if json.Unmarshal(p.Output, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(p.Output, &list) == nil {
		for _, u := range list {
			if u != "" {
				return u
			}
		}
	}
	var obj struct {
		URL   string `json:"url"`
		Video string `json:"video"`
	}
	if json.Unmarshal(p.Output, &obj) == nil {
		return cmp.Or(obj.URL, obj.Video)
	}
	return ""
}

// Poll reads the prediction (GET /v1/predictions/{id}): starting is pending,
// processing running, succeeded carries output as the video URL, failed
// carries Err classified from the error text (failureClass). canceled is
// canceled, billed when the prediction had started (Replicate bills
// predictions canceled while running). aborted — the Cancel-After deadline
// passed before it started — is failed with a Retryable Err and not billed.
// A prediction Replicate does not know is an errclass.NotFound error.
func (b *Backend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	id, err := predictionID(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "get prediction " + id
	r, err := b.do(ctx, http.MethodGet, "/v1/predictions/"+url.PathEscape(id), nil, nil, op)
	if err != nil {
		return backend.Status{}, err
	}
	if r.status != http.StatusOK {
		return backend.Status{}, b.httpError(op, r)
	}
	var p prediction
	if err := json.Unmarshal(r.body, &p); err != nil {
		return backend.Status{}, errclass.Wrap(errclass.Retryable, err, "replicate: "+op+": unreadable prediction body")
	}
	return p.status(op)
}

func (p prediction) status(op string) (backend.Status, error) {
	switch p.Status {
	case "starting":
		return backend.Status{State: backend.StatePending}, nil
	case "processing":
		return backend.Status{State: backend.StateRunning}, nil
	case "succeeded":
		u := p.videoURL()
		if u == "" {
			return backend.Status{
				State:  backend.StateFailed,
				Err:    errclass.New(errclass.Retryable, "replicate: prediction %s succeeded without an output URL", p.ID),
				Billed: true,
			}, nil
		}
		return backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: u, DurationSeconds: p.duration()}, nil
	case "failed":
		msg := cmp.Or(p.errorText(), "no error given")
		// Official models bill per output; a failed prediction has none.
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(failureClass(msg), "replicate: prediction %s (%s) failed: %s", p.ID, p.Model, msg),
		}, nil
	case "canceled":
		return backend.Status{State: backend.StateCanceled, Billed: p.StartedAt != nil && *p.StartedAt != ""}, nil
	case "aborted":
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(errclass.Retryable, "replicate: prediction %s aborted: its Cancel-After deadline passed before it started", p.ID),
		}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "replicate: %s: unknown status %q", op, clip(p.Status))
}

// Cancel cancels the prediction (POST /v1/predictions/{id}/cancel). A
// finished prediction is left as it is; an unknown one is not an error.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	id, err := predictionID(h)
	if err != nil {
		return err
	}
	op := "cancel prediction " + id
	r, err := b.do(ctx, http.MethodPost, "/v1/predictions/"+url.PathEscape(id)+"/cancel", nil, nil, op)
	if err != nil {
		return err
	}
	if r.status/100 == 2 || r.status == http.StatusNotFound {
		return nil
	}
	return b.httpError(op, r)
}

func predictionID(h backend.Handle) (string, error) {
	id := strings.TrimSpace(string(h))
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/?#% ") {
		return "", errclass.New(errclass.Permanent, "replicate: invalid handle %q: want a prediction id", clip(string(h)))
	}
	return id, nil
}

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with the token and reads at most maxBody of the
// answer. Transport failures are Retryable and keep their cause (errors.Is
// finds context.Canceled); no error text holds the token.
func (b *Backend) do(ctx context.Context, method, path string, body any, hdr http.Header, op string) (*response, error) {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, errclass.Wrap(errclass.Permanent, err, "replicate: "+op+": encode request")
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.cfg.Endpoint+path, rd)
	if err != nil {
		return nil, errclass.Wrap(errclass.Permanent, err, "replicate: "+op+": build request")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, b.redact(err), "replicate: "+op)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, b.redact(err), fmt.Sprintf("replicate: %s: HTTP %d, reading body", op, res.StatusCode))
	}
	if len(data) > maxBody {
		return nil, errclass.New(errclass.Retryable, "replicate: %s: HTTP %d with a body over %d bytes", op, res.StatusCode, maxBody)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}
