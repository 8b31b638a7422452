package luma

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
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	// EndpointDefault is the Dream Machine API base URL.
	EndpointDefault = "https://api.lumalabs.ai/dream-machine/v1"
	// PollIntervalDefault is how often a generation is polled; Luma gives
	// no guidance, generations take tens of seconds to minutes.
	PollIntervalDefault = 3 * time.Second
	// HTTPTimeoutDefault bounds one API call when Config.HTTPClient is nil.
	HTTPTimeoutDefault = 60 * time.Second
	// CredentialEnv is the variable that conventionally holds the API key.
	CredentialEnv = "LUMAAI_API_KEY"
)

const maxBody = 1 << 20

// Config configures a Backend. The zero value of every field but APIKey
// takes a default (WithDefaults).
type Config struct {
	// Endpoint is the API base URL including /dream-machine/v1;
	// EndpointDefault when empty.
	Endpoint string
	// APIKey is the Luma API key sent as a bearer token. Required. It is
	// never written into errors or logs.
	APIKey string
	// HTTPClient makes the calls; a client with HTTPTimeoutDefault when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports; PollIntervalDefault when zero.
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
		return fmt.Errorf("luma: Config.APIKey is required (set %s)", CredentialEnv)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("luma: Config.Endpoint must be an absolute http(s) URL, got %q", c.Endpoint)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("luma: Config.PollInterval must not be negative, got %s", c.PollInterval)
	}
	return nil
}

// Backend is the Luma Dream Machine adapter. It is safe for concurrent use
// and keeps no per-generation state: a Handle is the generation id.
type Backend struct {
	cfg  Config
	base string
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
	data, err := json.Marshal(body)
	if err != nil {
		return "", errclass.Wrap(errclass.Permanent, err, "luma: encode request")
	}
	const op = "create generation"
	resp, out, err := b.do(ctx, http.MethodPost, "/generations/video", data, op)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", httpError(op, resp, out, b.now())
	}
	var g struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &g); err != nil {
		return "", errclass.Wrap(errclass.Retryable, err,
			fmt.Sprintf("luma: %s: HTTP %d with an unreadable body (the generation may exist)", op, resp.StatusCode))
	}
	if g.ID == "" {
		return "", errclass.New(errclass.Retryable, "luma: %s: HTTP %d without a generation id (the generation may exist)", op, resp.StatusCode)
	}
	return backend.Handle(g.ID), nil
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
	id, err := generationID(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "get generation " + id
	resp, data, err := b.do(ctx, http.MethodGet, "/generations/"+url.PathEscape(id), nil, op)
	if err != nil {
		return backend.Status{}, err
	}
	if resp.StatusCode != http.StatusOK {
		err := httpError(op, resp, data, b.now())
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w (deleted or never created)", err)
		}
		return backend.Status{}, err
	}
	var g generation
	if err := json.Unmarshal(data, &g); err != nil {
		return backend.Status{}, errclass.Wrap(errclass.Retryable, err, "luma: "+op+": unreadable generation body")
	}
	return g.status(op)
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
			reason = clip(*g.FailureReason)
		}
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(failureClass(g.FailureCode, reason), "luma: generation failed: %s", reason),
		}, nil
	}
	return backend.Status{}, errclass.New(errclass.Retryable, "luma: %s: unknown state %q", op, clip(g.State))
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
	id, err := generationID(h)
	if err != nil {
		return err
	}
	op := "delete generation " + id
	resp, data, err := b.do(ctx, http.MethodDelete, "/generations/"+url.PathEscape(id), nil, op)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return httpError(op, resp, data, b.now())
}

func generationID(h backend.Handle) (string, error) {
	id := strings.TrimSpace(string(h))
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", errclass.New(errclass.Permanent, "luma: invalid handle %q: want a generation id", clip(string(h)))
	}
	return id, nil
}

// do sends one request and reads at most maxBody of the answer. Transport
// failures are Retryable and keep their cause (errors.Is finds
// context.Canceled); their text never includes headers.
func (b *Backend) do(ctx context.Context, method, path string, body []byte, op string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Permanent, err, "luma: "+op+": build request")
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Retryable, redact(err, b.cfg.APIKey), "luma: "+op)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, errclass.Wrap(errclass.Retryable, redact(err, b.cfg.APIKey), fmt.Sprintf("luma: %s: HTTP %d, reading body", op, resp.StatusCode))
	}
	return resp, data, nil
}

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

func (r *redacted) Error() string        { return r.msg }
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
