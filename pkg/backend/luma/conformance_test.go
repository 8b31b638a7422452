package luma_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/luma"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/lumasim"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		NewSim: func(cfg sim.Config) backendtest.Simulator { return lumasim.New(cfg) },
		NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
			b, err := luma.New(luma.Config{Endpoint: url + lumasim.BasePath, APIKey: key, HTTPClient: c, PollInterval: time.Millisecond})
			require.NoError(t, err)
			return b
		},
		Request: backend.SubmitRequest{
			JobID: "job-1", Attempt: 1, Model: "ray-2", DurationSeconds: 5,
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9,
		},
		ReportsDuration: true,
		// Dream Machine has no cancel: DELETE removes the generation.
		Cancel:   backendtest.CancelDeletes,
		AuthHint: luma.CredentialEnv,
	})
}
