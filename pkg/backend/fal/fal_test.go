package fal_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

type simEnv struct {
	sim   *falsim.Sim
	srv   *httptest.Server
	be    *fal.Backend
	clock *sim.ManualClock
}

// setup starts a fal simulator on a manual clock and an adapter pointed at it.
func setup(t *testing.T) simEnv {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
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
