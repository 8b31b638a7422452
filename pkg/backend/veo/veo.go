package veo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults.
const (
	LocationDefault     = "us-central1"
	PollIntervalDefault = 10 * time.Second
	// Scope is the OAuth2 scope Vertex AI needs.
	Scope = "https://www.googleapis.com/auth/cloud-platform"
)

// Config configures a Backend.
type Config struct {
	// Endpoint is the Vertex AI base URL; when empty,
	// https://{Location}-aiplatform.googleapis.com (or
	// https://aiplatform.googleapis.com for Location "global").
	Endpoint string
	// Project is the Google Cloud project id. Required (usually
	// GOOGLE_CLOUD_PROJECT).
	Project string
	// Location is the Vertex AI region (LocationDefault when empty).
	Location string
	// StorageURI is the gs://bucket[/prefix] Veo writes videos to; each
	// attempt writes under <StorageURI>/<job id>/<attempt>/. Required:
	// without it Vertex returns the video inline, base64 in the operation,
	// which has no place in a job record.
	StorageURI string
	// TokenSource supplies OAuth2 access tokens (sent as "Authorization:
	// Bearer"). Required; NewDefault uses Application Default Credentials.
	// In the dev stack any static token works against the simulator.
	TokenSource oauth2.TokenSource
	// HTTPClient sends the requests; a client with
	// providerhttp.HTTPTimeoutDefault (60 s) when nil.
	HTTPClient *http.Client
	// PollInterval is what PollInterval reports (PollIntervalDefault when 0).
	PollInterval time.Duration
}

// WithDefaults returns c with the zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Location = cmp.Or(c.Location, LocationDefault)
	if c.Endpoint == "" {
		c.Endpoint = "https://" + c.Location + "-aiplatform.googleapis.com"
		if c.Location == "global" {
			c.Endpoint = "https://aiplatform.googleapis.com"
		}
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	c.HTTPClient = providerhttp.HTTPClientOr(c.HTTPClient)
	return c
}

var segmentRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate reports the first unusable field.
func (c Config) Validate() error {
	if !segmentRE.MatchString(c.Project) {
		return fmt.Errorf("veo: Config.Project %q must be a project id (usually GOOGLE_CLOUD_PROJECT)", c.Project)
	}
	if !segmentRE.MatchString(c.Location) {
		return fmt.Errorf("veo: Config.Location %q must be a Vertex AI region such as us-central1", c.Location)
	}
	if rest, ok := strings.CutPrefix(c.StorageURI, "gs://"); !ok || rest == "" || strings.HasPrefix(rest, "/") {
		return fmt.Errorf("veo: Config.StorageURI %q must be gs://bucket[/prefix]: Veo writes the videos there", c.StorageURI)
	}
	if c.TokenSource == nil {
		return errors.New("veo: Config.TokenSource is nil (use NewDefault for Application Default Credentials)")
	}
	return providerhttp.Settings{Endpoint: c.Endpoint, PollInterval: c.PollInterval}.Validate("veo")
}

// Backend is the Vertex AI Veo adapter. It keeps no per-operation state, so
// any worker instance can poll any handle; it is safe for concurrent use
// (as long as its TokenSource is, which oauth2.ReuseTokenSource and the
// google package's sources are).
type Backend struct {
	cfg Config
	api *providerhttp.Client
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg with its defaults applied, or the
// validation error.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, api: &providerhttp.Client{
		Provider:   "veo",
		HTTP:       cfg.HTTPClient,
		Credential: tokenCredential{cfg.TokenSource},
		// With storageUri set, operations are small JSON: the cap leaves
		// room for an inline video, which will not fit a job record however
		// often it is fetched, and is refused.
		MaxBody:       32 << 20,
		OverLimit:     errclass.Permanent,
		OverLimitHint: " (an inline video? storageUri must be set)",
		Problem:       problem,
		AuthHint:      "check the service account's access to Vertex AI",
	}}, nil
}

// tokenCredential sends a fresh OAuth2 access token as a bearer token.
type tokenCredential struct{ ts oauth2.TokenSource }

func (c tokenCredential) Apply(r *http.Request) (string, error) {
	tok, err := c.ts.Token()
	if err != nil {
		return "", fmt.Errorf("get access token: %w", err)
	}
	if tok.AccessToken == "" {
		return "", errors.New("the token source returned an empty access token")
	}
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return tok.AccessToken, nil
}

// NewDefault is New with cfg.TokenSource set to Application Default
// Credentials for Scope (the Cloud Run service account in production,
// GOOGLE_APPLICATION_CREDENTIALS or gcloud's user credentials elsewhere).
// ctx is kept by the token source for refreshes: it must outlive the Backend.
func NewDefault(ctx context.Context, cfg Config) (*Backend, error) {
	ts, err := google.DefaultTokenSource(ctx, Scope)
	if err != nil {
		return nil, fmt.Errorf("veo: application default credentials: %w", err)
	}
	cfg.TokenSource = ts
	return New(cfg)
}

// PollInterval is how often to poll a Veo operation.
func (b *Backend) PollInterval() time.Duration { return b.cfg.PollInterval }

func (b *Backend) modelURL(project, location, model, verb string) string {
	return b.cfg.Endpoint + "/v1/projects/" + url.PathEscape(project) + "/locations/" + url.PathEscape(location) +
		"/publishers/google/models/" + url.PathEscape(model) + ":" + verb
}

// Submit starts a generation (POST .../models/{model}:predictLongRunning)
// with one sample written under StorageURI, labels aiprod_job_id and
// aiprod_attempt (they reach the billing export), and returns the operation
// name as the handle. A request the model cannot serve — including an
// image_url that is neither gs:// nor a base64 data URI — fails with
// errclass.Permanent before any call.
//
// Vertex has no idempotency key: a Submit whose outcome is unknown may have
// started a billed generation. Such errors are Retryable and say so; see the
// package doc for reconciliation.
func (b *Backend) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	body, err := planRequest(req, b.cfg.StorageURI)
	if err != nil {
		return "", err
	}
	op := "predictLongRunning " + req.Model
	var o struct {
		Name string `json:"name"`
	}
	r, err := b.call(ctx, b.modelURL(b.cfg.Project, b.cfg.Location, req.Model, "predictLongRunning"), body, op,
		&o, "body (the generation may have started)")
	if err != nil {
		return "", err
	}
	if _, err := parseOperation(backend.Handle(o.Name)); err != nil {
		return "", b.api.Errorf(errclass.Retryable, op, "HTTP %d without a usable operation name %q (the generation may have started)",
			r.Status, providerhttp.Clip(o.Name))
	}
	return backend.Handle(o.Name), nil
}

// opName is a parsed operation name:
// projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{id}.
type opName struct {
	project, location, model, id string
}

var opRE = regexp.MustCompile(`^projects/([A-Za-z0-9._-]+)/locations/([A-Za-z0-9._-]+)/publishers/google/models/([A-Za-z0-9._-]+)/operations/([A-Za-z0-9._-]+)$`)

func parseOperation(h backend.Handle) (opName, error) {
	m := opRE.FindStringSubmatch(string(h))
	if m == nil {
		return opName{}, errclass.New(errclass.Permanent, "veo: invalid handle %q: want projects/.../publishers/google/models/.../operations/...", providerhttp.Clip(string(h)))
	}
	return opName{project: m[1], location: m[2], model: m[3], id: m[4]}, nil
}

// flexInt reads a JSON number or a numeric string (proto3 JSON writes int64
// as strings).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = 0
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(bytes.Trim(b, `"`), &n); err != nil {
		return err
	}
	i, err := n.Int64()
	*f = flexInt(i)
	return err
}

// operation is the answer of :fetchPredictOperation, a long-running
// operation whose response is Veo's GenerateVideoResponse.
type operation struct {
	Name     string       `json:"name"`
	Done     bool         `json:"done"`
	Error    *googleError `json:"error"`
	Response *struct {
		Type                    string   `json:"@type"`
		RAIMediaFilteredCount   flexInt  `json:"raiMediaFilteredCount"`
		RAIMediaFilteredReasons []string `json:"raiMediaFilteredReasons"`
		Videos                  []struct {
			GCSURI             string `json:"gcsUri"`
			BytesBase64Encoded string `json:"bytesBase64Encoded"`
			MimeType           string `json:"mimeType"`
		} `json:"videos"`
	} `json:"response"`
}

// Poll fetches the operation (POST .../models/{model}:fetchPredictOperation
// {"operationName": name}). Not done is running (Vertex does not say queued
// from running). Done with an error is failed, classified by rpcClass
// (CANCELLED is canceled). Done with videos is succeeded, the first video's
// gcsUri the VideoURL; done with no video and raiMediaFilteredCount > 0 is a
// ContentSafety failure. Vertex does not report the video's duration, so
// DurationSeconds stays zero: it is the duration submitted.
func (b *Backend) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	on, err := parseOperation(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "fetchPredictOperation " + on.id
	var o operation
	if _, err := b.call(ctx, b.modelURL(on.project, on.location, on.model, "fetchPredictOperation"),
		map[string]string{"operationName": string(h)}, op, &o, "operation body", http.StatusOK); err != nil {
		return backend.Status{}, err
	}
	return o.status(on)
}

func (o operation) status(on opName) (backend.Status, error) {
	if !o.Done {
		return backend.Status{State: backend.StateRunning}, nil
	}
	if o.Error != nil && (o.Error.Code != 0 || o.Error.Message != "") {
		if o.Error.Code == 1 { // CANCELLED
			return backend.Status{State: backend.StateCanceled, Billed: true}, nil
		}
		return backend.Status{
			State: backend.StateFailed,
			Err: errclass.New(rpcClass(o.Error.Code, o.Error.Message), "veo: operation %s (%s) failed: code %d: %s",
				on.id, on.model, o.Error.Code, cmp.Or(providerhttp.Clip(o.Error.Message), "no message")),
		}, nil
	}
	if o.Response == nil {
		return backend.Status{
			State: backend.StateFailed,
			Err:   errclass.New(errclass.Retryable, "veo: operation %s done without a response or error", on.id),
		}, nil
	}
	inline := false
	for _, v := range o.Response.Videos {
		if v.GCSURI != "" {
			return backend.Status{State: backend.StateSucceeded, Progress: 1, VideoURL: v.GCSURI}, nil
		}
		inline = inline || v.BytesBase64Encoded != ""
	}
	switch {
	case inline:
		return backend.Status{
			State:  backend.StateFailed,
			Err:    errclass.New(errclass.Permanent, "veo: operation %s returned the video inline: storageUri was not honoured", on.id),
			Billed: true,
		}, nil
	case o.Response.RAIMediaFilteredCount > 0:
		return backend.Status{
			State: backend.StateFailed,
			Err: errclass.New(errclass.ContentSafety, "veo: operation %s: %d video(s) filtered by Responsible AI: %s",
				on.id, o.Response.RAIMediaFilteredCount, cmp.Or(providerhttp.Clip(strings.Join(o.Response.RAIMediaFilteredReasons, "; ")), "no reason given")),
		}, nil
	}
	return backend.Status{
		State: backend.StateFailed,
		Err:   errclass.New(errclass.Retryable, "veo: operation %s done without videos", on.id),
	}, nil
}

// Cancel makes no call and returns nil (Permanent for a malformed handle):
// the Veo reference documents no cancel, only :predictLongRunning and
// :fetchPredictOperation. A generation canceled in AIPROD therefore runs to
// its end at Google and is billed; its video lands under the attempt's
// storage prefix and is simply not used.
func (b *Backend) Cancel(ctx context.Context, h backend.Handle) error {
	_, err := parseOperation(h)
	return err
}

// call POSTs body as JSON with a fresh access token and decodes the answer
// into v (providerhttp.Client.Call): Vertex's predict and fetch calls are
// both POSTs.
func (b *Backend) call(ctx context.Context, rawURL string, body any, op string, v any, what string, want ...int) (*providerhttp.Response, error) {
	return b.api.Call(ctx, providerhttp.Request{Method: http.MethodPost, URL: rawURL, Op: op, Body: body}, v, what, want...)
}
