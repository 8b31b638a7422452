package replicate_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/replicate"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/replicatesim"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		NewSim: func(cfg sim.Config) backendtest.Simulator { return replicatesim.New(cfg) },
		NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
			b, err := replicate.New(replicate.Config{Endpoint: url, APIKey: key, HTTPClient: c, PollInterval: time.Millisecond})
			require.NoError(t, err)
			return b
		},
		Request: backend.SubmitRequest{
			JobID: "job-1", Attempt: 1, Model: "google/veo-3.1-fast", DurationSeconds: 6,
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
		},
		ReportsDuration: true,
		Cancel:          backendtest.CancelStops,
		AuthHint:        replicate.CredentialEnv,
	})
}
