package runway_test

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
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/runwaysim"
)

const (
	testKey   = "key_0123456789abcdefSECRET"
	queueTime = 10 * time.Millisecond
	runTime   = 30 * time.Millisecond
)

// fakeClock is the simulator's clock in tests that step through states.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	sim   *runwaysim.Sim
	srv   *httptest.Server
	b     *runway.Backend
	clock *fakeClock // nil when the simulator runs on the real clock
}

type setupOpt struct {
	realClock bool
	wrap      func(http.Handler) http.Handler
}

// setup starts a Runway simulator and an adapter pointed at it.
func setup(t *testing.T, opt setupOpt) env {
	t.Helper()
	cfg := sim.Config{QueueTime: queueTime, RunTime: runTime}
	var clk *fakeClock
	if !opt.realClock {
		clk = &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		cfg.Now = clk.Now
	}
	s := runwaysim.New(cfg)
	h := s.Handler()
	if opt.wrap != nil {
		h = opt.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	b, err := runway.New(runway.Config{Endpoint: srv.URL, APIKey: testKey, HTTPClient: srv.Client(), PollInterval: time.Millisecond})
	require.NoError(t, err)
	return env{sim: s, srv: srv, b: b, clock: clk}
}

func textRequest(model string) backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: "job-1", Attempt: 1, Model: model, DurationSeconds: 4,
		Prompt: "a red fox running through snow", Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
	}
}

func requireNoKey(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		require.NotContains(t, err.Error(), testKey)
		require.NotContains(t, err.Error(), "Bearer")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := runway.New(runway.Config{})
	require.ErrorContains(t, err, "Config.APIKey")
	require.ErrorContains(t, err, runway.CredentialEnv)

	_, err = runway.New(runway.Config{APIKey: "k", Endpoint: "not a url"})
	require.ErrorContains(t, err, "Config.Endpoint")

	b, err := runway.New(runway.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, runway.PollIntervalDefault, b.PollInterval())
	require.Equal(t, 5*time.Second, b.PollInterval())

	b, err = runway.New(runway.Config{APIKey: "k", PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 50*time.Millisecond, b.PollInterval())
}

func TestLifecycleThroughEveryState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  backend.SubmitRequest
	}{
		{"text veo3.1_fast 720p 16:9", textRequest("veo3.1_fast")},
		{"text veo3.1 1080p 9:16 audio", func() backend.SubmitRequest {
			r := textRequest("veo3.1")
			r.Resolution, r.AspectRatio, r.DurationSeconds, r.Audio = job.Res1080p, job.Aspect9x16, 8, true
			return r
		}()},
		{"image gen4_turbo 1:1", func() backend.SubmitRequest {
			r := textRequest("gen4_turbo")
			r.ImageURL, r.AspectRatio, r.DurationSeconds = "https://example.com/first.png", job.Aspect1x1, 5
			return r
		}()},
		{"text gen4.5", func() backend.SubmitRequest {
			r := textRequest("gen4.5")
			r.DurationSeconds = 10
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpt{})
			ctx := context.Background()
			h, err := e.b.Submit(ctx, tt.req)
			require.NoError(t, err)
			require.NotEmpty(t, h)

			st, err := e.b.Poll(ctx, h) // THROTTLED
			require.NoError(t, err)
			require.Equal(t, backend.StatePending, st.State)

			e.clock.Advance(queueTime / 2) // PENDING
			st, err = e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StatePending, st.State)

			e.clock.Advance(queueTime/2 + runTime/2) // RUNNING, half way
			st, err = e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StateRunning, st.State)
			require.InDelta(t, 0.5, st.Progress, 0.01)

			e.clock.Advance(runTime) // SUCCEEDED
			st, err = e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StateSucceeded, st.State)
			require.Nil(t, st.Err)
			require.True(t, strings.HasPrefix(st.VideoURL, e.srv.URL+"/__sim/videos/"), st.VideoURL)

			resp, err := e.srv.Client().Get(st.VideoURL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, sim.VideoBytes, body)
			require.Equal(t, 1, e.sim.Core().Stats().Submitted)
		})
	}
}

// TestLifecycleRealClock drives a generation the way the worker does: poll
// at PollInterval until a terminal state, with a deadline.
func TestLifecycleRealClock(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{realClock: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := e.b.Submit(ctx, textRequest("veo3.1_fast"))
	require.NoError(t, err)

	rank := map[backend.State]int{backend.StatePending: 0, backend.StateRunning: 1, backend.StateSucceeded: 2}
	last := -1
	tick := time.NewTicker(e.b.PollInterval())
	defer tick.Stop()
	for {
		st, err := e.b.Poll(ctx, h)
		require.NoError(t, err)
		r, ok := rank[st.State]
		require.True(t, ok, "unexpected state %s", st.State)
		require.GreaterOrEqual(t, r, last, "state went backwards to %s", st.State)
		last = r
		if st.State.Terminal() {
			require.NotEmpty(t, st.VideoURL)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no terminal state before the deadline; last %s", st.State)
		case <-tick.C:
		}
	}
}

func TestGenerationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prompt string
		class  error
	}{
		{"a fox [sim:unsafe]", errclass.ContentSafety},
		{"a fox [sim:fail]", errclass.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.prompt, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpt{})
			req := textRequest("veo3.1_fast")
			req.Prompt = tt.prompt
			h, err := e.b.Submit(context.Background(), req)
			require.NoError(t, err)
			e.clock.Advance(queueTime + runTime)
			st, err := e.b.Poll(context.Background(), h)
			require.NoError(t, err, "a failed generation is a status, not a poll error")
			require.Equal(t, backend.StateFailed, st.State)
			require.ErrorIs(t, st.Err, tt.class)
			require.Equal(t, tt.class, errclass.Of(st.Err))
			require.False(t, st.Billed)
		})
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	t.Run("error rate 1 answers 429 with Retry-After, 500 and 502", func(t *testing.T) {
		t.Parallel()
		e := setup(t, setupOpt{})
		e.sim.Core().SetFaults(sim.Faults{ErrorRate: 1})
		var with, without int
		for i := 0; i < 300 && (with == 0 || without == 0); i++ {
			_, err := e.b.Submit(context.Background(), textRequest("veo3.1_fast"))
			require.Error(t, err)
			require.ErrorIs(t, err, errclass.Retryable)
			requireNoKey(t, err)
			if d, ok := errclass.RetryAfter(err); ok {
				require.Equal(t, runwaysim.RetryAfterSeconds*time.Second, d)
				require.Contains(t, err.Error(), "429")
				with++
			} else {
				without++
			}
		}
		require.Positive(t, with, "never saw a 429")
		require.Positive(t, without, "never saw a 5xx")
		require.Zero(t, e.sim.Core().Stats().Submitted)
	})
	t.Run("down answers 503", func(t *testing.T) {
		t.Parallel()
		e := setup(t, setupOpt{})
		e.sim.Core().SetFaults(sim.Faults{Down: true})
		_, err := e.b.Poll(context.Background(), "some-task")
		require.ErrorIs(t, err, errclass.Retryable)
		require.Contains(t, err.Error(), "503")
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	ctx := context.Background()
	h, err := e.b.Submit(ctx, textRequest("veo3.1_fast"))
	require.NoError(t, err)
	e.clock.Advance(queueTime + runTime/2) // running

	require.NoError(t, e.b.Cancel(ctx, h))
	st, err := e.b.Poll(ctx, h)
	require.NoError(t, err)
	require.Equal(t, backend.StateCanceled, st.State)
	require.True(t, st.Billed)
	require.Equal(t, 1, e.sim.Core().Stats().Canceled)

	// A second DELETE deletes the canceled task; later polls find nothing.
	require.NoError(t, e.b.Cancel(ctx, h))
	_, err = e.b.Poll(ctx, h)
	require.ErrorIs(t, err, errclass.NotFound)

	// Canceling what Runway does not know is not an error.
	require.NoError(t, e.b.Cancel(ctx, h))
	require.NoError(t, e.b.Cancel(ctx, "00000000-0000-0000-0000-000000000000"))

	// Canceling a finished task deletes it and is not an error.
	h2, err := e.b.Submit(ctx, textRequest("veo3.1_fast"))
	require.NoError(t, err)
	e.clock.Advance(queueTime + runTime)
	require.NoError(t, e.b.Cancel(ctx, h2))
	require.Equal(t, 1, e.sim.Core().Stats().Canceled)
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	stripAuth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Authorization")
			h.ServeHTTP(w, r)
		})
	}
	e := setup(t, setupOpt{wrap: stripAuth})
	_, err := e.b.Submit(context.Background(), textRequest("veo3.1_fast"))
	require.ErrorIs(t, err, errclass.Retryable, "a refused key is the backend's problem: fail over")
	require.Contains(t, err.Error(), "401")
	require.Contains(t, err.Error(), runway.CredentialEnv)
	requireNoKey(t, err)
	_, err = e.b.Poll(context.Background(), "any")
	require.Contains(t, err.Error(), "401")
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestInvalidRequestsArePermanentAndNotSent(t *testing.T) {
	t.Parallel()
	mod := func(model string, f func(r *backend.SubmitRequest)) backend.SubmitRequest {
		r := textRequest(model)
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  backend.SubmitRequest
		want string
	}{
		{"gen4_turbo without image", textRequest("gen4_turbo"), "image-to-video only"},
		{"unknown model", textRequest("gen9"), "not a Runway video model"},
		{"veo 1:1", mod("veo3.1", func(r *backend.SubmitRequest) { r.AspectRatio = job.Aspect1x1 }), "1:1"},
		{"veo 4k", mod("veo3.1", func(r *backend.SubmitRequest) { r.Resolution = job.Res4K }), "4k"},
		{"gen4_turbo 1080p", mod("gen4_turbo", func(r *backend.SubmitRequest) {
			r.ImageURL, r.Resolution, r.DurationSeconds = "https://example.com/a.png", job.Res1080p, 5
		}), "1080p"},
		{"gen4_turbo audio", mod("gen4_turbo", func(r *backend.SubmitRequest) {
			r.ImageURL, r.Audio, r.DurationSeconds = "https://example.com/a.png", true, 5
		}), "audio"},
		{"gen4.5 text 1:1", mod("gen4.5", func(r *backend.SubmitRequest) { r.AspectRatio, r.DurationSeconds = job.Aspect1x1, 5 }), "1:1"},
		{"veo 5 s", mod("veo3.1_fast", func(r *backend.SubmitRequest) { r.DurationSeconds = 5 }), "5 s"},
		{"veo3 4 s", mod("veo3", func(r *backend.SubmitRequest) { r.DurationSeconds = 4 }), "4 s"},
		{"prompt over 1000 UTF-16 units", mod("veo3.1", func(r *backend.SubmitRequest) { r.Prompt = strings.Repeat("🦊", 501) }), "1002 UTF-16"},
		{"http image", mod("veo3.1", func(r *backend.SubmitRequest) { r.ImageURL = "http://example.com/a.png" }), "https"},
		{"empty prompt text-to-video", mod("veo3.1", func(r *backend.SubmitRequest) { r.Prompt = "" }), "prompt"},
	}
	e := setup(t, setupOpt{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.b.Submit(context.Background(), tt.req)
			require.ErrorIs(t, err, errclass.Permanent)
			require.ErrorContains(t, err, "invalid_request")
			require.ErrorContains(t, err, tt.want)
		})
	}
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestProviderValidationIsPermanent(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	req := textRequest("veo3.1")
	req.ImageURL = "data:text/plain;base64,aGVsbG8=" // the adapter passes data URIs; Runway wants an image
	_, err := e.b.Submit(context.Background(), req)
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "HTTP 400")
	require.ErrorContains(t, err, "Invalid asset for promptImage")
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.b.Poll(ctx, "task")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, errclass.Retryable)
	_, err = e.b.Submit(ctx, textRequest("veo3.1"))
	require.True(t, errors.Is(err, context.Canceled))
}

func TestInvalidHandle(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	for _, h := range []backend.Handle{"", "  ", "a/../b"} {
		_, err := e.b.Poll(context.Background(), h)
		require.ErrorIs(t, err, errclass.Permanent)
		require.ErrorIs(t, e.b.Cancel(context.Background(), h), errclass.Permanent)
	}
}
