package catalog

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

func req(mod func(r *job.Request)) *job.Request {
	r := &job.Request{Prompt: "p", DurationSeconds: 5}
	r.ApplyDefaults()
	if mod != nil {
		mod(r)
	}
	return r
}

func TestDefaultCatalogIsValid(t *testing.T) {
	t.Parallel()
	c := Default()
	require.ElementsMatch(t, []string{"veo", "runway", "luma", "replicate", "fal"}, c.Names())
}

func TestQuote(t *testing.T) {
	t.Parallel()
	c := Default()
	tests := []struct {
		name, backend string
		req           *job.Request
		model         string
		secs          int
		cost          string
		why           string
	}{
		{"luma 720p 5s", "luma", req(nil), "ray-2", 5, "0.71", ""},
		{"luma rounds 6s up to 9s", "luma", req(func(r *job.Request) { r.DurationSeconds = 6 }), "ray-2", 9, "1.278", ""},
		{"luma 4k", "luma", req(func(r *job.Request) { r.Resolution = job.Res4K }), "ray-2", 5, "6.37", ""},
		{"veo standard 5s bills 6s", "veo", req(nil), "veo-3.1-fast-generate-001", 6, "0.6", ""},
		{"veo draft picks lite", "veo", req(func(r *job.Request) { r.QualityTier = job.TierDraft }), "veo-3.1-lite-generate-001", 6, "0.3", ""},
		{"veo premium 4k", "veo", req(func(r *job.Request) { r.QualityTier = job.TierPremium; r.Resolution = job.Res4K; r.DurationSeconds = 8 }), "veo-3.1-generate-001", 8, "4.8", ""},
		{"runway audio price", "runway", req(func(r *job.Request) { r.Audio = true }), "veo3.1_fast", 6, "0.9", ""},
		{"runway i2v draft picks gen4_turbo", "runway", req(func(r *job.Request) { r.QualityTier = job.TierDraft; r.ImageURL = "https://x/y.png" }), "gen4_turbo", 5, "0.25", ""},
		{"luma has no audio", "luma", req(func(r *job.Request) { r.Audio = true }), "", 0, "", "ray-2: no audio"},
		{"veo has no 1:1", "veo", req(func(r *job.Request) { r.AspectRatio = job.Aspect1x1 }), "", 0, "", "no 1:1 aspect ratio"},
		{"too long", "replicate", req(func(r *job.Request) { r.DurationSeconds = 60 }), "", 0, "", "no 60 s duration"},
		{"fal i2v", "fal", req(func(r *job.Request) { r.ImageURL = "https://x/y.png" }), "fal-ai/veo3.1/fast", 6, "0.6", ""},
		{"veo needs gs or data images", "veo", req(func(r *job.Request) { r.ImageURL = "https://x/y.png" }), "", 0, "", "image_url must be gs, data"},
		{"veo takes gs images", "veo", req(func(r *job.Request) { r.ImageURL = "gs://b/y.png" }), "veo-3.1-fast-generate-001", 6, "0.6", ""},
		{"luma refuses data images", "luma", req(func(r *job.Request) { r.ImageURL = "data:image/png;base64,AAAA" }), "", 0, "", "image_url must be https, http"},
		{"premium not met by standard", "luma", req(func(r *job.Request) { r.QualityTier = job.TierPremium }), "", 0, "", "tier standard below premium"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, why := c.Backend(tt.backend).Quote(tt.req)
			if tt.why != "" {
				require.Contains(t, why, tt.why)
				return
			}
			require.Empty(t, why)
			require.Equal(t, tt.model, q.Model)
			require.Equal(t, tt.secs, q.Seconds)
			require.Equal(t, money.MustParse(tt.cost), q.Estimate)
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(c *Catalog){
		"missing price for a resolution": func(c *Catalog) { c.Backend("luma").Offers[0].Prices = c.Backend("luma").Offers[0].Prices[:1] },
		"unknown provider":               func(c *Catalog) { c.Backends[0].Provider = "sora" },
		"duplicate name":                 func(c *Catalog) { c.Backends[1].Name = c.Backends[0].Name },
		"price without source":           func(c *Catalog) { c.Backends[0].Offers[0].Prices[0].Source = "" },
		"bad tier":                       func(c *Catalog) { c.Backends[0].Offers[0].Tier = "ultra" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			mutate(c)
			require.Error(t, c.Validate())
		})
	}
}

func TestCatalogJSONRoundTrip(t *testing.T) {
	t.Parallel()
	c := Default()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	back, err := Parse(b)
	require.NoError(t, err, "a marshalled catalog parses strictly")
	require.Equal(t, c, back)
}
