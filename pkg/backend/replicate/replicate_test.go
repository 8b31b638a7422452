package replicate_test

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
	"github.com/aiprod/aiprod/pkg/backend/replicate"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/replicatesim"
)

const testKey = "r8_test_token_0123456789abcdef"

const (
	queueTime = 10 * time.Millisecond
	runTime   = 30 * time.Millisecond
)

type simEnv struct {
	sim   *replicatesim.Sim
	srv   *httptest.Server
	be    *replicate.Backend
	clock *sim.ManualClock
}

// setup starts a Replicate simulator on a manual clock (generations queue
// for qt and run for rt) and an adapter pointed at it.
func setup(t *testing.T, qt, rt time.Duration, cfg replicate.Config) simEnv {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := replicatesim.New(sim.Config{QueueTime: qt, RunTime: rt, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	cfg.Endpoint, cfg.APIKey, cfg.HTTPClient, cfg.PollInterval = srv.URL, testKey, srv.Client(), time.Millisecond
	be, err := replicate.New(cfg)
	require.NoError(t, err)
	return simEnv{sim: s, srv: srv, be: be, clock: clk}
}

func request(prompt string) backend.SubmitRequest {
	return backend.SubmitRequest{
		JobID: "job-1", Attempt: 1, Model: "google/veo-3.1-fast", DurationSeconds: 6,
		Prompt: prompt, Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
	}
}

func TestSubmitSendsTheModelInput(t *testing.T) {
	t.Parallel()
	env := setup(t, queueTime, runTime, replicate.Config{})
	req := request("a fox")
	req.ImageURL, req.AspectRatio, req.Resolution, req.DurationSeconds = "https://example.com/a.png", job.Aspect9x16, job.Res1080p, 4
	h, err := env.be.Submit(context.Background(), req)
	require.NoError(t, err)
	g, ok := env.sim.Core().Get(string(h))
	require.True(t, ok)
	require.Equal(t, "google/veo-3.1-fast", g.Model)
	require.Equal(t, 4, g.DurationSeconds)
	for k, v := range map[string]any{
		"prompt": "a fox", "duration": float64(4), "aspect_ratio": "9:16", "resolution": "1080p",
		"generate_audio": false, "image": "https://example.com/a.png",
	} {
		require.Equal(t, v, g.Extra[k], k)
	}
}

func TestInvalidRequestsFailBeforeAnyCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func(backend.SubmitRequest) backend.SubmitRequest
	}{
		{"unknown model", func(r backend.SubmitRequest) backend.SubmitRequest { r.Model = "google/veo-9"; return r }},
		{"no owner", func(r backend.SubmitRequest) backend.SubmitRequest { r.Model = "veo"; return r }},
		{"unsupported duration", func(r backend.SubmitRequest) backend.SubmitRequest { r.DurationSeconds = 5; return r }},
		{"square", func(r backend.SubmitRequest) backend.SubmitRequest { r.AspectRatio = job.Aspect1x1; return r }},
		{"4k", func(r backend.SubmitRequest) backend.SubmitRequest { r.Resolution = job.Res4K; return r }},
		{"empty prompt", func(r backend.SubmitRequest) backend.SubmitRequest { r.Prompt = ""; return r }},
		{"gs image", func(r backend.SubmitRequest) backend.SubmitRequest { r.ImageURL = "gs://b/a.png"; return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, queueTime, runTime, replicate.Config{})
			_, err := env.be.Submit(context.Background(), tt.req(request("a fox")))
			require.ErrorIs(t, err, errclass.Permanent)
			require.Contains(t, err.Error(), "replicate: invalid_request:")
			require.Zero(t, env.sim.Core().Stats().Submitted)
		})
	}
}

func TestCancelAgainstSimulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		advance    time.Duration
		wantState  backend.State
		wantBilled bool
	}{
		{name: "while starting is not billed", advance: 0, wantState: backend.StateCanceled, wantBilled: false},
		{name: "while processing is billed", advance: queueTime, wantState: backend.StateCanceled, wantBilled: true},
		{name: "after success changes nothing", advance: queueTime + runTime, wantState: backend.StateSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, queueTime, runTime, replicate.Config{})
			ctx := context.Background()
			h, err := env.be.Submit(ctx, request("a fox"))
			require.NoError(t, err)
			env.clock.Advance(tt.advance)
			require.NoError(t, env.be.Cancel(ctx, h))
			require.NoError(t, env.be.Cancel(ctx, h), "canceling twice is not an error")
			env.clock.Advance(time.Hour)
			st, err := env.be.Poll(ctx, h)
			require.NoError(t, err)
			require.Equal(t, tt.wantState, st.State)
			require.Equal(t, tt.wantBilled, st.Billed)
		})
	}
	t.Run("unknown prediction", func(t *testing.T) {
		t.Parallel()
		env := setup(t, queueTime, runTime, replicate.Config{})
		require.NoError(t, env.be.Cancel(context.Background(), "nosuchprediction"))
		_, err := env.be.Poll(context.Background(), "nosuchprediction")
		require.ErrorIs(t, err, errclass.NotFound)
	})
}

func TestCancelAfterDeadline(t *testing.T) {
	t.Parallel()
	// Generations queue for 2 s and run for 3 s.
	tests := []struct {
		name        string
		cancelAfter time.Duration
		wantState   backend.State
		wantClass   error
		wantBilled  bool
	}{
		{name: "before start: aborted, not billed", cancelAfter: time.Second, wantState: backend.StateFailed, wantClass: errclass.Retryable},
		{name: "while running: canceled, billed", cancelAfter: 3 * time.Second, wantState: backend.StateCanceled, wantBilled: true},
		{name: "after the end: no effect", cancelAfter: time.Minute, wantState: backend.StateSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, 2*time.Second, 3*time.Second, replicate.Config{CancelAfter: tt.cancelAfter})
			h, err := env.be.Submit(context.Background(), request("a fox"))
			require.NoError(t, err)
			env.clock.Advance(10 * time.Second)
			st, err := env.be.Poll(context.Background(), h)
			require.NoError(t, err)
			require.Equal(t, tt.wantState, st.State)
			require.Equal(t, tt.wantBilled, st.Billed)
			if tt.wantClass != nil {
				require.Equal(t, tt.wantClass, errclass.Of(st.Err))
				require.Contains(t, st.Err.Error(), "aborted")
			}
		})
	}
}

func TestSimulatorListsPredictionsNewestFirst(t *testing.T) {
	t.Parallel()
	env := setup(t, queueTime, runTime, replicate.Config{})
	var ids []string
	for _, p := range []string{"first", "second"} {
		h, err := env.be.Submit(context.Background(), request(p))
		require.NoError(t, err)
		ids = append(ids, string(h))
	}
	req, _ := http.NewRequest(http.MethodGet, env.srv.URL+"/v1/predictions", nil)
	req.Header.Set("Authorization", "Token x")
	res, err := env.srv.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Less(t, strings.Index(string(body), ids[1]), strings.Index(string(body), ids[0]))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := replicate.New(replicate.Config{})
	require.ErrorContains(t, err, "APIKey")
	_, err = replicate.New(replicate.Config{APIKey: "k", CancelAfter: time.Millisecond})
	require.ErrorContains(t, err, "CancelAfter")
	be, err := replicate.New(replicate.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, replicate.PollIntervalDefault, be.PollInterval())
}
