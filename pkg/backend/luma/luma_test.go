package luma_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
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

type env struct {
	sim   *lumasim.Sim
	srv   *httptest.Server
	b     *luma.Backend
	clock *sim.ManualClock
}

// setup starts a Dream Machine simulator on a manual clock and an adapter pointed
// at it.
func setup(t *testing.T) env {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := lumasim.New(sim.Config{QueueTime: queueTime, RunTime: runTime, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
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
			e := setup(t)
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

func TestCancelDeletes(t *testing.T) {
	t.Parallel()
	e := setup(t)
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
	e := setup(t)
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
	e := setup(t)
	req := request()
	req.Prompt, req.ImageURL = "", "https://example.com/a.png"
	h, err := e.b.Submit(context.Background(), req)
	require.NoError(t, err)
	require.NotEmpty(t, h)
}

func TestRootEndpointAlsoWorks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b, err := luma.New(luma.Config{Endpoint: e.srv.URL, APIKey: testKey, HTTPClient: e.srv.Client()})
	require.NoError(t, err)
	h, err := b.Submit(context.Background(), request())
	require.NoError(t, err)
	st, err := e.b.Poll(context.Background(), h)
	require.NoError(t, err)
	require.Equal(t, backend.StatePending, st.State)
}
