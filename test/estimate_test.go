package test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
)

// TestEstimateMatchesActualCost: on the simulated backends, for every job
// shape each backend's offers serve (resolution, shortest and longest
// duration, with and without audio, text- and image-to-video), the cost
// recorded after the generation is within ±5% of the estimate reserved at
// routing.
func TestEstimateMatchesActualCost(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	type shape struct {
		backend string
		req     job.Request
	}
	var shapes []shape
	for _, b := range st.Catalog.Backends {
		for _, o := range b.Offers {
			for _, res := range o.Resolutions {
				for _, secs := range []int{1, o.Durations[len(o.Durations)-1]} {
					for _, audio := range []bool{false, true} {
						if audio && !o.Audio {
							continue
						}
						req := job.Request{
							Prompt:          fmt.Sprintf("estimate %s %s %s %ds audio=%t", b.Name, o.Model, res, secs, audio),
							DurationSeconds: secs, Resolution: res, AspectRatio: o.AspectRatios[0],
							QualityTier: o.Tier, Audio: audio, Backends: []string{b.Name},
						}
						if !o.TextToVideo {
							req.ImageURL = imageFor(o.ImageURLSchemes)
						}
						shapes = append(shapes, shape{b.Name, req})
					}
				}
			}
		}
	}
	require.GreaterOrEqual(t, len(shapes), 30)

	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, s := range shapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			j, err := c.Submit(context.Background(), s.req, client.SubmitOptions{})
			if !assertNoErr(t, err, s.req.Prompt) {
				return
			}
			j = waitTerminal(t, c, j.ID)
			if j.Status != job.StatusSucceeded {
				t.Errorf("%s: %s %+v", s.req.Prompt, j.Status, j.Error)
				return
			}
			est, act := int64(j.EstimatedCost), int64(j.Cost)
			if est <= 0 || act*100 < est*95 || act*100 > est*105 {
				t.Errorf("%s: estimate %s, actual %s: outside ±5%%", s.req.Prompt, j.EstimatedCost, j.Cost)
			}
		}()
	}
	wg.Wait()
}

func imageFor(schemes []string) string {
	if len(schemes) == 0 || slices.Contains(schemes, "https") {
		return "https://example.com/first-frame.png"
	}
	if slices.Contains(schemes, "gs") {
		return "gs://aiprod-inputs/first-frame.png"
	}
	return "data:image/png;base64,iVBORw0KGgo="
}

func assertNoErr(t *testing.T, err error, what string) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	return true
}
