package veo_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/veo"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/veosim"
)

const (
	testToken = "ya29.test-access-token-0123456789"
	storage   = "gs://aiprod-test-outputs"
	queueTime = 10 * time.Millisecond
	runTime   = 30 * time.Millisecond
)

type simEnv struct {
	sim   *veosim.Sim
	srv   *httptest.Server
	be    *veo.Backend
	clock *sim.ManualClock
}

func config(endpoint string) veo.Config {
	return veo.Config{
		Endpoint: endpoint, Project: "aiprod-test", Location: "us-central1", StorageURI: storage,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken}), PollInterval: time.Millisecond,
	}
}

// setup starts a Veo simulator on a manual clock and an adapter pointed at it.
func setup(t *testing.T) simEnv {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := veosim.New(sim.Config{QueueTime: queueTime, RunTime: runTime, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	cfg := config(srv.URL)
	cfg.HTTPClient = srv.Client()
	be, err := veo.New(cfg)
	require.NoError(t, err)
	return simEnv{sim: s, srv: srv, be: be, clock: clk}
}

func request(prompt string) backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: "5f0c1a2b-0000-4000-8000-00000000abcd", Attempt: 2, Model: "veo-3.1-fast-generate-001", DurationSeconds: 8,
		Prompt: prompt, Resolution: job.Res1080p, AspectRatio: job.Aspect16x9,
	}
}

// TestLifecycleAgainstSimulator checks what the conformance suite leaves to
// the adapter: the operation name, "not done" while queued, and where the
// video lands (<storage>/<job id>/<attempt>/...).
func TestLifecycleAgainstSimulator(t *testing.T) {
	t.Parallel()
	env := setup(t)
	ctx := context.Background()
	h, err := env.be.Submit(ctx, request("a red fox running through snow"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(h),
		"projects/aiprod-test/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001/operations/"), h)

	for _, step := range []time.Duration{0, queueTime} { // queued, then running: Vertex says "not done"
		env.clock.Advance(step)
		st, err := env.be.Poll(ctx, h)
		require.NoError(t, err)
		require.Equal(t, backend.StateRunning, st.State)
	}

	env.clock.Advance(runTime)
	st, err := env.be.Poll(ctx, h)
	require.NoError(t, err)
	require.Equal(t, backend.StateSucceeded, st.State)
	id := string(h)[strings.LastIndex(string(h), "/")+1:]
	require.Equal(t, storage+"/5f0c1a2b-0000-4000-8000-00000000abcd/2/"+id+"/sample_0.mp4", st.VideoURL)
}

func TestSubmitSendsTheParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		image     string
		wantImage map[string]string
	}{
		{name: "text to video"},
		{name: "gs image", image: "gs://bucket/frames/first.jpg", wantImage: map[string]string{"gcsUri": "gs://bucket/frames/first.jpg", "mimeType": "image/jpeg"}},
		{name: "data URI image", image: "data:image/png;base64,iVBORw0KGgo=", wantImage: map[string]string{"bytesBase64Encoded": "iVBORw0KGgo=", "mimeType": "image/png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			req := request("a fox")
			req.ImageURL, req.AspectRatio, req.Resolution, req.DurationSeconds = tt.image, job.Aspect9x16, job.Res4K, 6
			h, err := env.be.Submit(context.Background(), req)
			require.NoError(t, err)
			g, ok := env.sim.Core().Get(string(h)[strings.LastIndex(string(h), "/")+1:])
			require.True(t, ok)
			require.Equal(t, 6, g.DurationSeconds)
			p := jsonMap(t, g.Extra["parameters"])
			require.Equal(t, map[string]any{
				"durationSeconds": float64(6), "aspectRatio": "9:16", "resolution": "4k", "generateAudio": false,
				"sampleCount": float64(1), "storageUri": storage + "/5f0c1a2b-0000-4000-8000-00000000abcd/2/",
			}, p)
			require.Equal(t, map[string]string{"aiprod_job_id": "5f0c1a2b-0000-4000-8000-00000000abcd", "aiprod_attempt": "2"}, g.Extra["labels"])
			if tt.wantImage == nil {
				require.Nil(t, g.Extra["image"])
				return
			}
			img := jsonMap(t, g.Extra["image"])
			for k, v := range tt.wantImage {
				require.Equal(t, v, img[k], k)
			}
		})
	}
}

func TestInvalidRequestsFailBeforeAnyCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func(backend.SubmitRequest) backend.SubmitRequest
		want string
	}{
		{"unknown model", func(r backend.SubmitRequest) backend.SubmitRequest { r.Model = "veo-9"; return r }, "unknown model"},
		{"https image", func(r backend.SubmitRequest) backend.SubmitRequest {
			r.ImageURL = "https://example.com/a.png"
			return r
		}, "gs://"},
		{"data URI not base64", func(r backend.SubmitRequest) backend.SubmitRequest { r.ImageURL = "data:image/png,rawbytes"; return r }, "data URI"},
		{"data URI not an image", func(r backend.SubmitRequest) backend.SubmitRequest {
			r.ImageURL = "data:text/plain;base64,aGk="
			return r
		}, "data URI"},
		{"gs without bucket", func(r backend.SubmitRequest) backend.SubmitRequest { r.ImageURL = "gs://"; return r }, "bucket"},
		{"5 seconds", func(r backend.SubmitRequest) backend.SubmitRequest { r.DurationSeconds = 5; return r }, "not 5 s"},
		{"square", func(r backend.SubmitRequest) backend.SubmitRequest { r.AspectRatio = job.Aspect1x1; return r }, "aspect ratio"},
		{"4k on lite", func(r backend.SubmitRequest) backend.SubmitRequest {
			r.Model, r.Resolution = "veo-3.1-lite-generate-001", job.Res4K
			return r
		}, "resolution"},
		{"empty prompt", func(r backend.SubmitRequest) backend.SubmitRequest { r.Prompt = "\t"; return r }, "prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			_, err := env.be.Submit(context.Background(), tt.req(request("a fox")))
			require.ErrorIs(t, err, errclass.Permanent)
			require.Contains(t, err.Error(), "veo: invalid_request:")
			require.Contains(t, err.Error(), tt.want)
			require.Zero(t, env.sim.Core().Stats().Submitted)
		})
	}
}

func TestCancelIsANoOp(t *testing.T) {
	t.Parallel()
	env := setup(t)
	ctx := context.Background()
	h, err := env.be.Submit(ctx, request("a fox"))
	require.NoError(t, err)
	polls := env.sim.Core().Stats().Polls
	require.NoError(t, env.be.Cancel(ctx, h))
	require.Equal(t, polls, env.sim.Core().Stats().Polls, "Cancel makes no call")
	env.clock.Advance(queueTime + runTime)
	st, err := env.be.Poll(ctx, h)
	require.NoError(t, err)
	require.Equal(t, backend.StateSucceeded, st.State, "the generation runs to its end")
	require.ErrorIs(t, env.be.Cancel(ctx, "not-an-operation"), errclass.Permanent)
}

func TestRateLimitIsResourceExhausted(t *testing.T) {
	t.Parallel()
	env := setup(t)
	env.sim.Core().SetFaults(sim.Faults{ErrorRate: 1, Status: http.StatusTooManyRequests})
	_, err := env.be.Submit(context.Background(), request("a fox"))
	require.ErrorIs(t, err, errclass.Retryable)
	require.Contains(t, err.Error(), "RESOURCE_EXHAUSTED")
	d, ok := errclass.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, time.Second, d)
}

func TestTokenSourceFailure(t *testing.T) {
	t.Parallel()
	env := setup(t)
	cfg := config(env.srv.URL)
	cfg.TokenSource = failingSource{}
	be, err := veo.New(cfg)
	require.NoError(t, err)
	_, err = be.Submit(context.Background(), request("a fox"))
	require.ErrorIs(t, err, errclass.Retryable)
	require.Contains(t, err.Error(), "access token")
	require.Zero(t, env.sim.Core().Stats().Submitted)
}

type failingSource struct{}

func (failingSource) Token() (*oauth2.Token, error) {
	return nil, errors.New("metadata server unreachable")
}

func TestPollOfAnotherModelsOperation(t *testing.T) {
	t.Parallel()
	env := setup(t)
	h, err := env.be.Submit(context.Background(), request("a fox"))
	require.NoError(t, err)
	other := strings.Replace(string(h), "veo-3.1-fast-generate-001", "veo-3.1-generate-001", 1)
	_, err = env.be.Poll(context.Background(), backend.Handle(other))
	require.ErrorIs(t, err, errclass.NotFound)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	tests := []struct {
		name    string
		cfg     veo.Config
		wantErr string
	}{
		{"no project", veo.Config{StorageURI: storage, TokenSource: ts}, "Project"},
		{"no storage", veo.Config{Project: "p", TokenSource: ts}, "StorageURI"},
		{"storage not gs", veo.Config{Project: "p", StorageURI: "https://b", TokenSource: ts}, "StorageURI"},
		{"no token source", veo.Config{Project: "p", StorageURI: storage}, "TokenSource"},
		{"bad location", veo.Config{Project: "p", Location: "us central", StorageURI: storage, TokenSource: ts}, "Location"},
		{"ok", veo.Config{Project: "p", StorageURI: storage, TokenSource: ts}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be, err := veo.New(tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, veo.PollIntervalDefault, be.PollInterval())
		})
	}
	c := veo.Config{Location: "europe-west4"}.WithDefaults()
	require.Equal(t, "https://europe-west4-aiplatform.googleapis.com", c.Endpoint)
	require.Equal(t, "https://aiplatform.googleapis.com", veo.Config{Location: "global"}.WithDefaults().Endpoint)
}
