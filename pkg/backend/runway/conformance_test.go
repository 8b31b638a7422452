package runway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/runwaysim"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		NewSim: func(cfg sim.Config) backendtest.Simulator { return runwaysim.New(cfg) },
		NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
			b, err := runway.New(runway.Config{Endpoint: url, APIKey: key, HTTPClient: c, PollInterval: time.Millisecond})
			require.NoError(t, err)
			return b
		},
		Request: backend.SubmitRequest{
			JobID: "job-1", Attempt: 1, Model: "veo3.1_fast", DurationSeconds: 4,
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
		},
		// Runway's task does not report the video's duration.
		ReportsDuration: false,
		Cancel:          backendtest.CancelStops,
		AuthHint:        runway.CredentialEnv,
	})
}
