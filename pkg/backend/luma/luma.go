package luma

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	// EndpointDefault is the Dream Machine API base URL.
	EndpointDefault = "https://api.lumalabs.ai/dream-machine/v1"
	// PollIntervalDefault is how often a generation is polled; Luma gives
	// no guidance, generations take tens of seconds to minutes.
	PollIntervalDefault = 3 * time.Second
	// CredentialEnv is the variable that conventionally holds the API key.
	CredentialEnv = "LUMAAI_API_KEY"
)

// Config configures a Backend. The zero value of every field but APIKey
// takes a default (WithDefaults).
type Config struct {
	// Endpoint is the API base URL including /dream-machine/v1;
	// EndpointDefault when empty.
	Endpoint string
	// APIKey is the Luma API key sent as a bearer token. Required. It is
	// never written into errors or logs.
	APIKey string
	// HTTPClient makes the calls; a client with
	// providerhttp.HTTPTimeoutDefault (60 s) when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports; PollIntervalDefault when zero.
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
	return dreamMachine.Validate(c.Endpoint, c.PollInterval, c.APIKey)
}

// dreamMachine is how the adapter reaches Luma's API. Its error body is
// {"detail": ...}: a string, or a list of FastAPI validation errors [{"loc",
// "msg"}]. Out of credits is the backend's trouble, not the job's:
// Client.Error classes a 402 Retryable.
var dreamMachine = providerhttp.API{Provider: "luma", Scheme: "Bearer", KeyEnv: CredentialEnv, Problem: providerhttp.MessageField("detail")}

// Backend is the Luma Dream Machine adapter. It is safe for concurrent use
// and keeps no per-generation state: a Handle is the generation id.
type Backend struct {
	cfg         Config
	generations providerhttp.Collection[generation]
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
	return &Backend{cfg: cfg, generations: providerhttp.Collection[generation]{
		API:    dreamMachine.Client(cfg.HTTPClient, cfg.APIKey),
		URL:    strings.TrimRight(cfg.Endpoint, "/") + "/generations",
		Noun:   "generation",
		Status: generation.status,
		// Dream Machine has no separate cancel.
		Stop:    providerhttp.Stop{Method: http.MethodDelete, Verb: "delete"},
		Unknown: "deleted or never created",
	}}, nil
}

// PollInterval is how often to poll a generation.
func (b *Backend) PollInterval() time.Duration { return b.cfg.PollInterval }

// Submit creates a generation: POST /generations/video with model, prompt,
// aspect_ratio, duration ("5s"/"9s"), resolution and, for image-to-video,
// keyframes.frame0 {type: "image", url}. A request Dream Machine cannot serve
// fails with errclass.Permanent before anything is sent. The handle is the
// generation id.
//
// Luma has no idempotency key: an unreadable 2xx answer or a transport
// error after the request left may hide a created (billed) generation; such
// errors are Retryable and say so. See the package doc.
func (b *Backend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	body, err := planRequest(req)
	if err != nil {
		return "", err
	}
	return b.generations.Create(ctx, providerhttp.Request{
		Method: http.MethodPost, URL: b.generations.URL + "/video", Op: "create generation", Body: body,
	})
}

// generation is the part of Dream Machine's Generation object the adapter
// reads.
type generation struct {
	ID            string          `json:"id"`
	State         string          `json:"state"`
	FailureReason *string         `json:"failure_reason"`
	FailureCode   string          `json:"failure_code"` // not in the Dream Machine schema yet; read when present
	Assets        *assets         `json:"assets"`
	Request       json.RawMessage `json:"request"` // a union; only duration is read, leniently
}

type assets struct {
	Video string `json:"video"`
}

// Poll reads the generation (GET /generations/{id}): queued is pending,
// dreaming is running (Dream Machine reports no progress), completed is
// succeeded with assets.video and the duration echoed in request.duration,
// failed is failed with Err classified from failure_reason. A generation
// Luma does not know (never created, or deleted by Cancel) is an
// errclass.NotFound error.
func (b *Backend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	return b.generations.Poll(ctx, h)
}

func (g generation) status(op string) (backend.Status, error) {
	switch g.State {
	case "queued":
		return backend.Status{State: backend.StatePending}, nil
	case "dreaming":
		return backend.Status{State: backend.StateRunning}, nil
	case "completed":
		if g.Assets == nil || g.Assets.Video == "" {
			return backend.Status{}, errclass.New(errclass.Retryable, "luma: %s: completed without assets.video", op)
		}
		return backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: g.Assets.Video, DurationSeconds: requestDuration(g.Request)}, nil
	case "failed":
		reason := "no reason given"
		if g.FailureReason != nil && *g.FailureReason != "" {
			reason = providerhttp.Clip(*g.FailureReason)
		}
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(failureClass(g.FailureCode, reason), "luma: generation failed: %s", reason),
		}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "luma: %s: unknown state %q", op, providerhttp.Clip(g.State))
}

// requestDuration reads request.duration ("5s") from the echoed request;
// 0 when absent or unreadable.
func requestDuration(raw json.RawMessage) int {
	var r struct {
		Duration any `json:"duration"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return 0
	}
	s, ok := r.Duration.(string)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "s"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Cancel deletes the generation (DELETE /generations/{id}); Dream Machine
// has no separate cancel. A generation already gone is not an error. After
// Cancel, Poll answers NotFound.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	return b.generations.Cancel(ctx, h)
}
