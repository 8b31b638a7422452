package veo_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
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

// clock is a manual clock for the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type simEnv struct {
	sim   *veosim.Sim
	srv   *httptest.Server
	be    *veo.Backend
	clock *clock
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
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
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

func TestLifecycleAgainstSimulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prompt    string
		wantState backend.State
		wantClass error
	}{
		{name: "success", prompt: "a red fox running through snow", wantState: backend.StateSucceeded},
		{name: "generation failure", prompt: "a fox [sim:fail]", wantState: backend.StateFailed, wantClass: errclass.Retryable},
		{name: "safety filter", prompt: "a fox [sim:unsafe]", wantState: backend.StateFailed, wantClass: errclass.ContentSafety},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			ctx := context.Background()
			h, err := env.be.Submit(ctx, request(tt.prompt))
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
			require.Equal(t, tt.wantState, st.State)
			if tt.wantClass == nil {
				require.NoError(t, st.Err)
				id := string(h)[strings.LastIndex(string(h), "/")+1:]
				require.Equal(t, storage+"/5f0c1a2b-0000-4000-8000-00000000abcd/2/"+id+"/sample_0.mp4", st.VideoURL)
				return
			}
			require.Equal(t, tt.wantClass, errclass.Of(st.Err), st.Err)
			require.False(t, st.Billed)
		})
	}
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

func TestInjectedFaultsAreRetryable(t *testing.T) {
	t.Parallel()
	t.Run("rate limited with Retry-After", func(t *testing.T) {
		t.Parallel()
		env := setup(t)
		env.sim.Core().SetFaults(sim.Faults{ErrorRate: 1})
		for i := 0; ; i++ {
			require.Less(t, i, 500, "no 429 in 500 injected errors")
			_, err := env.be.Submit(context.Background(), request("a fox"))
			require.ErrorIs(t, err, errclass.Retryable)
			if d, ok := errclass.RetryAfter(err); ok {
				require.Equal(t, time.Second, d)
				require.Contains(t, err.Error(), "RESOURCE_EXHAUSTED")
				return
			}
		}
	})
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		env := setup(t)
		h, err := env.be.Submit(context.Background(), request("a fox"))
		require.NoError(t, err)
		env.sim.Core().SetFaults(sim.Faults{Down: true})
		_, err = env.be.Poll(context.Background(), h)
		require.ErrorIs(t, err, errclass.Retryable)
		require.Contains(t, err.Error(), "HTTP 503")
	})
}

func TestAuthFailure(t *testing.T) {
	t.Parallel()
	t.Run("token refused", func(t *testing.T) {
		t.Parallel()
		env := setup(t)
		env.sim.RequireToken("another-token")
		_, err := env.be.Submit(context.Background(), request("a fox"))
		require.ErrorIs(t, err, errclass.Retryable)
		require.Contains(t, err.Error(), "HTTP 401")
		require.NotContains(t, err.Error(), testToken)
		require.Zero(t, env.sim.Core().Stats().Submitted)
	})
	t.Run("no token", func(t *testing.T) {
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
	})
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

func TestRealClock(t *testing.T) {
	t.Parallel()
	s := veosim.New(sim.Config{QueueTime: queueTime, RunTime: runTime})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	cfg := config(srv.URL)
	cfg.HTTPClient, cfg.PollInterval = srv.Client(), 2*time.Millisecond
	be, err := veo.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := be.Submit(ctx, request("a fox"))
	require.NoError(t, err)
	tick := time.NewTicker(be.PollInterval())
	defer tick.Stop()
	for {
		st, err := be.Poll(ctx, h)
		require.NoError(t, err)
		if st.State.Terminal() {
			require.Equal(t, backend.StateSucceeded, st.State)
			require.True(t, strings.HasPrefix(st.VideoURL, storage+"/"))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("operation not done before the deadline: %v", ctx.Err())
		case <-tick.C:
		}
	}
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

func TestContextCancellationIsVisible(t *testing.T) {
	t.Parallel()
	env := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := env.be.Submit(ctx, request("a fox"))
	require.ErrorIs(t, err, errclass.Retryable)
	require.True(t, errors.Is(err, context.Canceled), err)
}
