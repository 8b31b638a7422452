package replicate

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
	EndpointDefault     = "https://api.replicate.com"
	PollIntervalDefault = 2 * time.Second
	// CancelAfterDefault is the deadline sent with every prediction: well
	// above a Veo generation's few minutes, short enough that a prediction
	// stuck in the queue is aborted (not billed) instead of running late.
	CancelAfterDefault = 15 * time.Minute
	// CredentialEnv is the variable that conventionally holds the API token.
	CredentialEnv = "REPLICATE_API_TOKEN"
)

// Config configures a Backend. The zero value plus an APIKey works against
// production Replicate.
type Config struct {
	// Endpoint is the API base URL (EndpointDefault when empty).
	Endpoint string
	// APIKey is the API token, sent as "Authorization: Bearer <APIKey>".
	// Required. Reading it from the environment (REPLICATE_API_TOKEN) is the
	// caller's job; the adapter never puts it in errors or logs.
	APIKey string
	// HTTPClient sends the requests; a client with
	// providerhttp.HTTPTimeoutDefault (60 s) when nil.
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
	c.HTTPClient = providerhttp.HTTPClientOr(c.HTTPClient)
	return c
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	err := replicateAPI.Validate(c.Endpoint, c.PollInterval, c.APIKey)
	if err == nil && c.CancelAfter > 0 && c.CancelAfter < time.Second {
		err = fmt.Errorf("replicate: Config.CancelAfter must be at least 1s (or negative for none), got %s", c.CancelAfter)
	}
	return err
}

// replicateAPI is how the adapter reaches Replicate's API. Predictions and
// their pages are small JSON: 4 MiB is ample. Out of credit is the
// backend's trouble, not the job's: Client.Error classes a 402 Retryable.
var replicateAPI = providerhttp.API{Provider: "replicate", Scheme: "Bearer", KeyEnv: CredentialEnv, MaxBody: 4 << 20, Problem: problem}

// Backend is the Replicate adapter. It keeps no per-prediction state, so
// any worker instance can poll or cancel any handle; it is safe for
// concurrent use.
type Backend struct {
	cfg         Config
	predictions providerhttp.Collection[prediction]
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Finder  = (*Backend)(nil)
)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, predictions: providerhttp.Collection[prediction]{
		API:    replicateAPI.Client(cfg.HTTPClient, cfg.APIKey),
		URL:    cfg.Endpoint + "/v1/predictions",
		Noun:   "prediction",
		Status: prediction.status,
		Stop:   providerhttp.Stop{Method: http.MethodPost, Suffix: "/cancel", Verb: "cancel"},
	}}, nil
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
	hdr := http.Header{}
	if b.cfg.CancelAfter > 0 {
		hdr.Set("Cancel-After", formatCancelAfter(b.cfg.CancelAfter))
	}
	return b.predictions.Create(ctx, providerhttp.Request{
		Method: http.MethodPost, URL: b.cfg.Endpoint + "/v1/models/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/predictions",
		Op: "create prediction of " + req.Model, Body: map[string]any{"input": in}, Header: hdr,
	})
}

// prediction is Replicate's prediction object.
type prediction struct {
	ID        string                     `json:"id"`
	Model     string                     `json:"model"`
	Status    string                     `json:"status"`
	CreatedAt string                     `json:"created_at"`
	Input     map[string]json.RawMessage `json:"input"`
	Output    json.RawMessage            `json:"output"`
	Error     json.RawMessage            `json:"error"`
	StartedAt *string                    `json:"started_at"`
	Metrics   struct {
		PredictTime *float64 `json:"predict_time"`
	} `json:"metrics"`
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
	return b.predictions.Poll(ctx, h)
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
		msg := cmp.Or(providerhttp.JSONText(p.Error), "no error given")
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
	return backend.Status{}, errclass.New(errclass.Retryable, "replicate: %s: unknown status %q", op, providerhttp.Clip(p.Status))
}

// Cancel cancels the prediction (POST /v1/predictions/{id}/cancel). A
// finished prediction is left as it is; an unknown one is not an error.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	return b.predictions.Cancel(ctx, h)
}
