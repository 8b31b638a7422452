package luma_test

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
	"github.com/aiprod/aiprod/pkg/backend/luma"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/lumasim"
)

const (
	testKey   = "luma-0123456789abcdefSECRET"
	queueTime = 10 * time.Millisecond
	runTime   = 30 * time.Millisecond
)

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
	sim   *lumasim.Sim
	srv   *httptest.Server
	b     *luma.Backend
	clock *fakeClock // nil on the real clock
}

type setupOpt struct {
	realClock bool
	wrap      func(http.Handler) http.Handler
}

// setup starts a Dream Machine simulator and an adapter pointed at it.
func setup(t *testing.T, opt setupOpt) env {
	t.Helper()
	cfg := sim.Config{QueueTime: queueTime, RunTime: runTime}
	var clk *fakeClock
	if !opt.realClock {
		clk = &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		cfg.Now = clk.Now
	}
	s := lumasim.New(cfg)
	h := s.Handler()
	if opt.wrap != nil {
		h = opt.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	b, err := luma.New(luma.Config{Endpoint: srv.URL + lumasim.BasePath, APIKey: testKey, HTTPClient: srv.Client(), PollInterval: time.Millisecond})
	require.NoError(t, err)
	return env{sim: s, srv: srv, b: b, clock: clk}
}

func request() backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: "job-1", Attempt: 1, Model: "ray-2", DurationSeconds: 5,
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
	_, err := luma.New(luma.Config{})
	require.ErrorContains(t, err, "Config.APIKey")
	require.ErrorContains(t, err, luma.CredentialEnv)
	_, err = luma.New(luma.Config{APIKey: "k", Endpoint: "::"})
	require.ErrorContains(t, err, "Config.Endpoint")
	b, err := luma.New(luma.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, luma.PollIntervalDefault, b.PollInterval())
}

func TestLifecycleThroughEveryState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  backend.SubmitRequest
		secs int
	}{
		{"text 720p 16:9 5s", request(), 5},
		{"text 4k 9:16 9s flash", func() backend.SubmitRequest {
			r := request()
			r.Model, r.Resolution, r.AspectRatio, r.DurationSeconds = "ray-flash-2", job.Res4K, job.Aspect9x16, 9
			return r
		}(), 9},
		{"image 540p 1:1", func() backend.SubmitRequest {
			r := request()
			r.ImageURL, r.Resolution, r.AspectRatio = "https://example.com/first.png", job.Res540p, job.Aspect1x1
			return r
		}(), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpt{})
			ctx := context.Background()
			h, err := e.b.Submit(ctx, tt.req)
			require.NoError(t, err)
			require.NotEmpty(t, h)

			st, err := e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StatePending, st.State)

			e.clock.Advance(queueTime + runTime/2)
			st, err = e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StateRunning, st.State)

			e.clock.Advance(runTime)
			st, err = e.b.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, backend.StateSucceeded, st.State)
			require.Equal(t, tt.secs, st.DurationSeconds)
			require.True(t, strings.HasPrefix(st.VideoURL, e.srv.URL+"/__sim/videos/"), st.VideoURL)

			resp, err := e.srv.Client().Get(st.VideoURL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, sim.VideoBytes, body)
			require.Equal(t, 1, e.sim.Core().Stats().Submitted)
		})
	}
}

func TestLifecycleRealClock(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{realClock: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := e.b.Submit(ctx, request())
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
			req := request()
			req.Prompt = tt.prompt
			h, err := e.b.Submit(context.Background(), req)
			require.NoError(t, err)
			e.clock.Advance(queueTime + runTime)
			st, err := e.b.Poll(context.Background(), h)
			require.NoError(t, err)
			require.Equal(t, backend.StateFailed, st.State)
			require.ErrorIs(t, st.Err, tt.class)
			require.Equal(t, tt.class, errclass.Of(st.Err))
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
			_, err := e.b.Submit(context.Background(), request())
			require.ErrorIs(t, err, errclass.Retryable)
			requireNoKey(t, err)
			if d, ok := errclass.RetryAfter(err); ok {
				require.Equal(t, lumasim.RetryAfterSeconds*time.Second, d)
				with++
			} else {
				without++
			}
		}
		require.Positive(t, with)
		require.Positive(t, without)
		require.Zero(t, e.sim.Core().Stats().Submitted)
	})
	t.Run("down answers 503", func(t *testing.T) {
		t.Parallel()
		e := setup(t, setupOpt{})
		e.sim.Core().SetFaults(sim.Faults{Down: true})
		err := e.b.Cancel(context.Background(), "gen")
		require.ErrorIs(t, err, errclass.Retryable)
		require.ErrorContains(t, err, "503")
	})
}

func TestCancelDeletes(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	ctx := context.Background()
	h, err := e.b.Submit(ctx, request())
	require.NoError(t, err)
	e.clock.Advance(queueTime + runTime/2) // dreaming
	require.NoError(t, e.b.Cancel(ctx, h))
	require.Equal(t, 1, e.sim.Core().Stats().Canceled)

	_, err = e.b.Poll(ctx, h)
	require.ErrorIs(t, err, errclass.NotFound)
	require.ErrorContains(t, err, "deleted or never created")

	require.NoError(t, e.b.Cancel(ctx, h), "already gone")
	require.NoError(t, e.b.Cancel(ctx, "00000000-0000-0000-0000-000000000000"))
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Authorization")
			h.ServeHTTP(w, r)
		})
	}})
	_, err := e.b.Submit(context.Background(), request())
	require.ErrorIs(t, err, errclass.Retryable)
	require.ErrorContains(t, err, "401")
	require.ErrorContains(t, err, luma.CredentialEnv)
	requireNoKey(t, err)
	require.Zero(t, e.sim.Core().Stats().Submitted)
}

func TestInvalidRequestsArePermanentAndNotSent(t *testing.T) {
	t.Parallel()
	mod := func(f func(r *backend.SubmitRequest)) backend.SubmitRequest {
		r := request()
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  backend.SubmitRequest
		want string
	}{
		{"unknown model", mod(func(r *backend.SubmitRequest) { r.Model = "ray-9" }), "not a Dream Machine video model"},
		{"audio", mod(func(r *backend.SubmitRequest) { r.Audio = true }), "audio"},
		{"6 s", mod(func(r *backend.SubmitRequest) { r.DurationSeconds = 6 }), "6 s"},
		{"bad aspect", mod(func(r *backend.SubmitRequest) { r.AspectRatio = "4:5" }), "4:5"},
		{"bad resolution", mod(func(r *backend.SubmitRequest) { r.Resolution = "8k" }), "8k"},
		{"short prompt", mod(func(r *backend.SubmitRequest) { r.Prompt = "ab" }), "at least 3"},
		{"long prompt", mod(func(r *backend.SubmitRequest) { r.Prompt = strings.Repeat("a", 5001) }), "at most 5000"},
		{"no prompt no image", mod(func(r *backend.SubmitRequest) { r.Prompt = "" }), "prompt is required"},
		{"data uri image", mod(func(r *backend.SubmitRequest) { r.ImageURL = "data:image/png;base64,AAAA" }), "data URIs"},
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

func TestImageOnlyWithoutPrompt(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	req := request()
	req.Prompt, req.ImageURL = "", "https://example.com/a.png"
	h, err := e.b.Submit(context.Background(), req)
	require.NoError(t, err)
	require.NotEmpty(t, h)
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.b.Poll(ctx, "gen")
	require.ErrorIs(t, err, errclass.Retryable)
	require.True(t, errors.Is(err, context.Canceled))
}

func TestRootEndpointAlsoWorks(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpt{})
	b, err := luma.New(luma.Config{Endpoint: e.srv.URL, APIKey: testKey, HTTPClient: e.srv.Client()})
	require.NoError(t, err)
	h, err := b.Submit(context.Background(), request())
	require.NoError(t, err)
	st, err := e.b.Poll(context.Background(), h)
	require.NoError(t, err)
	require.Equal(t, backend.StatePending, st.State)
}
