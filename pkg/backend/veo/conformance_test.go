package veo_test

import (
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/veo"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/veosim"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		NewSim: func(cfg sim.Config) backendtest.Simulator { return veosim.New(cfg) },
		NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
			cfg := config(url)
			cfg.HTTPClient, cfg.TokenSource = c, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: key})
			b, err := veo.New(cfg)
			require.NoError(t, err)
			return b
		},
		Request: backend.SubmitRequest{
			JobID: "job-1", Attempt: 1, Model: "veo-3.1-fast-generate-001", DurationSeconds: 8,
			Resolution: job.Res1080p, AspectRatio: job.Aspect16x9,
		},
		// Vertex reports neither the duration nor queued apart from running,
		// and documents no cancel.
		ReportsDuration: false,
		NoPendingState:  true,
		Cancel:          backendtest.CancelIgnored,
		// The video is a gs:// URI, .../<operation id>/sample_0.mp4; the
		// simulator serves the same bytes at /__sim/videos/<operation id>.mp4.
		VideoURL: func(videoURL, simURL string) string {
			if !strings.HasPrefix(videoURL, storage+"/") {
				return videoURL // not a video of this adapter's storage: fetching it fails the case
			}
			return simURL + "/__sim/videos/" + path.Base(path.Dir(videoURL)) + ".mp4"
		},
		AuthHint: "service account",
	})
}
