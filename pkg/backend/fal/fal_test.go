package fal_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/fal"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/falsim"
)

const testKey = "fal-test-key-0123456789abcdef"

const (
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
	sim   *falsim.Sim
	srv   *httptest.Server
	be    *fal.Backend
	clock *clock
}

// setup starts a fal simulator on a manual clock and an adapter pointed at it.
func setup(t *testing.T) simEnv {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s := falsim.New(sim.Config{QueueTime: queueTime, RunTime: runTime, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	be, err := fal.New(fal.Config{Endpoint: srv.URL, APIKey: testKey, HTTPClient: srv.Client(), PollInterval: time.Millisecond})
	require.NoError(t, err)
	return simEnv{sim: s, srv: srv, be: be, clock: clk}
}

func request(prompt string) backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: "job-1", Attempt: 1, Model: "fal-ai/veo3.1/fast", DurationSeconds: 8,
		Prompt: prompt, Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
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
		{name: "safety rejection", prompt: "a fox [sim:unsafe]", wantState: backend.StateFailed, wantClass: errclass.ContentSafety},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			ctx := context.Background()
			h, err := env.be.Submit(ctx, request(tt.prompt))
			require.NoError(t, err)

			st, err := env.be.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StatePending, st.State)

			env.clock.Advance(queueTime)
			st, err = env.be.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StateRunning, st.State)

			env.clock.Advance(runTime)
			st, err = env.be.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, tt.wantState, st.State)
			if tt.wantClass == nil {
				require.NoError(t, st.Err)
				require.True(t, strings.HasPrefix(st.VideoURL, env.srv.URL+"/__sim/videos/"), st.VideoURL)
				require.Equal(t, 8, st.DurationSeconds)
				res, err := env.srv.Client().Get(st.VideoURL)
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				require.Equal(t, sim.VideoBytes, body)
				return
			}
			require.ErrorIs(t, st.Err, tt.wantClass)
			require.Equal(t, tt.wantClass, errclass.Of(st.Err))
			require.False(t, st.Billed)
		})
	}
}

func TestSubmitSendsTheModelInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		req       func(backend.SubmitRequest) backend.SubmitRequest
		wantModel string
		wantInput map[string]any
	}{
		{
			name:      "text to video, audio off is sent",
			req:       func(r backend.SubmitRequest) backend.SubmitRequest { r.DurationSeconds = 4; return r },
			wantModel: "fal-ai/veo3.1/fast",
			wantInput: map[string]any{"duration": "4s", "aspect_ratio": "16:9", "resolution": "720p", "generate_audio": false},
		},
		{
			name: "image to video goes to the image endpoint",
			req: func(r backend.SubmitRequest) backend.SubmitRequest {
				r.ImageURL, r.Audio, r.AspectRatio, r.Resolution = "https://example.com/a.png", true, job.Aspect9x16, job.Res1080p
				return r
			},
			wantModel: "fal-ai/veo3.1/fast/image-to-video",
			wantInput: map[string]any{"image_url": "https://example.com/a.png", "generate_audio": true, "aspect_ratio": "9:16", "resolution": "1080p"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			h, err := env.be.Submit(context.Background(), tt.req(request("a fox")))
			require.NoError(t, err)
			require.Contains(t, string(h), env.srv.URL+"/fal-ai/veo3.1/requests/")
			st := env.sim.Core().Stats()
			require.Equal(t, 1, st.Submitted)
			id := handleID(t, h)
			g, ok := env.sim.Core().Get(id)
			require.True(t, ok)
			require.Equal(t, tt.wantModel, g.Model)
			for k, v := range tt.wantInput {
				require.Equal(t, v, g.Extra[k], k)
			}
		})
	}
}

func handleID(t *testing.T, h backend.Handle) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(h), `"request_id":"`)
	require.True(t, ok, h)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func TestInvalidRequestsFailBeforeAnyCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func(backend.SubmitRequest) backend.SubmitRequest
	}{
		{"unknown model", func(r backend.SubmitRequest) backend.SubmitRequest { r.Model = "fal-ai/nope"; return r }},
		{"unsupported duration", func(r backend.SubmitRequest) backend.SubmitRequest { r.DurationSeconds = 5; return r }},
		{"square", func(r backend.SubmitRequest) backend.SubmitRequest { r.AspectRatio = job.Aspect1x1; return r }},
		{"540p", func(r backend.SubmitRequest) backend.SubmitRequest { r.Resolution = job.Res540p; return r }},
		{"empty prompt", func(r backend.SubmitRequest) backend.SubmitRequest { r.Prompt = " "; return r }},
		{"ftp image", func(r backend.SubmitRequest) backend.SubmitRequest { r.ImageURL = "ftp://x/y.png"; return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			_, err := env.be.Submit(context.Background(), tt.req(request("a fox")))
			require.ErrorIs(t, err, errclass.Permanent)
			require.Contains(t, err.Error(), "fal: invalid_request:")
			require.Zero(t, env.sim.Core().Stats().Submitted)
		})
	}
}

func TestCancelAgainstSimulator(t *testing.T) {
	t.Parallel()
	env := setup(t)
	ctx := context.Background()
	h, err := env.be.Submit(ctx, request("a fox"))
	require.NoError(t, err)
	env.clock.Advance(queueTime) // running

	require.NoError(t, env.be.Cancel(ctx, h))
	st, err := env.be.Poll(ctx, h)
	require.NoError(t, err)
	require.Equal(t, backend.StateCanceled, st.State)
	require.True(t, st.Billed)
	require.Equal(t, 1, env.sim.Core().Stats().Canceled)

	require.NoError(t, env.be.Cancel(ctx, h), "canceling twice is not an error")

	done, err := env.be.Submit(ctx, request("another fox"))
	require.NoError(t, err)
	env.clock.Advance(queueTime + runTime)
	require.NoError(t, env.be.Cancel(ctx, done), "canceling a finished request is not an error")
	st, err = env.be.Poll(ctx, done)
	require.NoError(t, err)
	require.Equal(t, backend.StateSucceeded, st.State)
}

func TestInjectedFaultsAreRetryable(t *testing.T) {
	t.Parallel()
	t.Run("rate limited with Retry-After", func(t *testing.T) {
		t.Parallel()
		env := setup(t)
		env.sim.Core().SetFaults(sim.Faults{ErrorRate: 1})
		// Injected errors are 429, 502 or 500 at random; look for a 429.
		for i := 0; ; i++ {
			require.Less(t, i, 500, "no 429 in 500 injected errors")
			_, err := env.be.Submit(context.Background(), request("a fox"))
			require.ErrorIs(t, err, errclass.Retryable)
			if d, ok := errclass.RetryAfter(err); ok {
				require.Equal(t, time.Second, d)
				require.Contains(t, err.Error(), "HTTP 429")
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
	env := setup(t)
	env.sim.RequireKey("some-other-key")
	_, err := env.be.Submit(context.Background(), request("a fox"))
	require.ErrorIs(t, err, errclass.Retryable, "a refused key fails over, like any backend trouble")
	require.Contains(t, err.Error(), "HTTP 401")
	require.NotContains(t, err.Error(), testKey)
	require.Zero(t, env.sim.Core().Stats().Submitted)
}

// TestRealClock runs a generation on the wall clock, polling with a deadline.
func TestRealClock(t *testing.T) {
	t.Parallel()
	s := falsim.New(sim.Config{QueueTime: queueTime, RunTime: runTime})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	be, err := fal.New(fal.Config{Endpoint: srv.URL, APIKey: testKey, HTTPClient: srv.Client(), PollInterval: 2 * time.Millisecond})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := be.Submit(ctx, request("a fox"))
	require.NoError(t, err)
	st := pollUntilTerminal(ctx, t, be, h)
	require.Equal(t, backend.StateSucceeded, st.State)
	require.NotEmpty(t, st.VideoURL)
}

func pollUntilTerminal(ctx context.Context, t *testing.T, be backend.Backend, h backend.Handle) backend.Status {
	t.Helper()
	tick := time.NewTicker(be.PollInterval())
	defer tick.Stop()
	for {
		st, err := be.Poll(ctx, h)
		require.NoError(t, err)
		if st.State.Terminal() {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("generation not terminal before the deadline: %v", ctx.Err())
		case <-tick.C:
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := fal.New(fal.Config{})
	require.ErrorContains(t, err, "APIKey")
	_, err = fal.New(fal.Config{APIKey: "k", Endpoint: "queue.fal.run"})
	require.ErrorContains(t, err, "Endpoint")
	be, err := fal.New(fal.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, fal.PollIntervalDefault, be.PollInterval())
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

func TestSimulatorValidatesInput(t *testing.T) {
	t.Parallel()
	env := setup(t)
	req, err := http.NewRequest(http.MethodPost, env.srv.URL+"/fal-ai/veo3.1/fast",
		strings.NewReader(`{"prompt":"a fox","duration":"5s"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Key k")
	res, err := env.srv.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	require.Contains(t, string(body), `"literal_error"`)
	require.Contains(t, string(body), `"duration"`)
}
