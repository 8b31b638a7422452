package fal_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/fal"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/falsim"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		NewSim: func(cfg sim.Config) backendtest.Simulator { return falsim.New(cfg) },
		NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
			b, err := fal.New(fal.Config{Endpoint: url, APIKey: key, HTTPClient: c, PollInterval: time.Millisecond})
			require.NoError(t, err)
			return b
		},
		Request: backend.SubmitRequest{
			JobID: "job-1", Attempt: 1, Model: "fal-ai/veo3.1/fast", DurationSeconds: 8,
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
		},
		// fal's result does not report it; the handle keeps the one asked for.
		ReportsDuration: true,
		Cancel:          backendtest.CancelStops,
		AuthHint:        fal.CredentialEnv,
	})
}
