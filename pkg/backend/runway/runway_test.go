package runway_test

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

type env struct {
	sim   *runwaysim.Sim
	srv   *httptest.Server
	b     *runway.Backend
	clock *sim.ManualClock
}

// setup starts a Runway simulator on a manual clock and an adapter pointed
// at it.
func setup(t *testing.T) env {
	t.Helper()
	clk := sim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := runwaysim.New(sim.Config{QueueTime: queueTime, RunTime: runTime, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
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
			e := setup(t)
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

func TestCancel(t *testing.T) {
	t.Parallel()
	e := setup(t)
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

func TestProviderValidationIsPermanent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	req := textRequest("veo3.1")
	req.ImageURL = "data:text/plain;base64,aGVsbG8=" // the adapter passes data URIs; Runway wants an image
	_, err := e.b.Submit(context.Background(), req)
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "HTTP 400")
	require.ErrorContains(t, err, "Invalid asset for promptImage")
}
