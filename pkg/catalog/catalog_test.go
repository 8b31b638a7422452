package catalog

import (
	"encoding/json"
	"slices"
	"strings"
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
		"missing price for a resolution":       func(c *Catalog) { c.Backend("luma").Offers[0].Prices = c.Backend("luma").Offers[0].Prices[:1] },
		"unknown provider":                     func(c *Catalog) { c.Backends[0].Provider = "sora" },
		"duplicate name":                       func(c *Catalog) { c.Backends[1].Name = c.Backends[0].Name },
		"price without source":                 func(c *Catalog) { c.Backends[0].Offers[0].Prices[0].Source = "" },
		"bad tier":                             func(c *Catalog) { c.Backends[0].Offers[0].Tier = "ultra" },
		"zero duration":                        func(c *Catalog) { c.Backends[0].Offers[0].Durations[0] = 0 },
		"price that overflows estimates":       func(c *Catalog) { c.Backends[0].Offers[0].Prices[0].PerSecond = MaxPrice + 1 },
		"concurrency beyond one slot document": func(c *Catalog) { c.Backends[0].Concurrency = MaxConcurrency + 1 },
		"negative concurrency":                 func(c *Catalog) { c.Backends[0].Concurrency = -1 },
		"commitment without a fee":             func(c *Catalog) { c.Backends[0].Commitment = &Commitment{DiscountPercent: 20, Source: "s", AsOf: "d"} },
		"commitment of 100% off": func(c *Catalog) {
			c.Backends[0].Commitment = &Commitment{MonthlyUSD: money.Dollar, DiscountPercent: 100, Source: "s", AsOf: "d"}
		},
		"commitment without source": func(c *Catalog) {
			c.Backends[0].Commitment = &Commitment{MonthlyUSD: money.Dollar, DiscountPercent: 20, AsOf: "d"}
		},
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

// A committed-use price is optional in the format: it parses with its
// backend, costs the commitment or the discounted usage, whichever is
// more, and breaks even at the commitment.
func TestCommitment(t *testing.T) {
	t.Parallel()
	withCommitment := strings.Replace(fuzzSmall, `"concurrency": 2,`,
		`"concurrency": 2, "commitment": {"monthly_usd": 500, "discount_percent": 20, "source": "quote", "as_of": "2026-11-01"},`, 1)
	c, err := Parse([]byte(withCommitment))
	require.NoError(t, err)
	cm := c.Backend("alpha").Commitment
	require.Equal(t, &Commitment{MonthlyUSD: money.MustParse("500"), DiscountPercent: 20, Source: "quote", AsOf: "2026-11-01"}, cm)
	require.Equal(t, money.MustParse("500"), cm.Cost(money.MustParse("300")), "the commitment is paid whatever is used")
	require.Equal(t, money.MustParse("800"), cm.Cost(money.MustParse("1000")), "usage past it at 20% off")
	require.Equal(t, money.MustParse("500"), cm.Cost(money.MustParse("625")), "625 at 20% off uses the commitment up")
	require.Equal(t, cm.MonthlyUSD, cm.Cost(cm.MonthlyUSD), "break-even")
	plain, err := Parse([]byte(fuzzSmall))
	require.NoError(t, err)
	require.Nil(t, plain.Backend("alpha").Commitment, "optional")
	for _, b := range Default().Backends {
		require.Nil(t, b.Commitment, "no provider reference publishes one")
	}
}

// fuzzSmall is a one-backend catalog, a seed small enough to mutate well.
const fuzzSmall = `{"version": "v", "backends": [{"name": "alpha", "provider": "luma", "endpoint": "http://alpha", "concurrency": 2,
  "offers": [{"model": "a1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
    "text_to_video": true, "image_to_video": true, "audio": true, "image_url_schemes": ["https"],
    "prices": [{"per_second_usd": 0.1, "source": "s", "as_of": "2026-01-01"},
               {"audio": true, "resolution": "720p", "per_second_usd": "0.2", "fixed_usd": 1, "source": "s", "as_of": "2026-01-01"}]}]}]}`

// catalogFields are the JSON names of the catalog's fields: an error about
// a JSON document names one of them.
var catalogFields = []string{"version", "backends", "name", "provider", "endpoint", "credential_env", "concurrency",
	"offers", "model", "tier", "resolutions", "aspect_ratios", "durations", "text_to_video", "image_to_video", "audio",
	"image_url_schemes", "prices", "extra", "resolution", "per_second_usd", "fixed_usd", "source", "as_of", "unknown field",
	"commitment", "monthly_usd", "discount_percent"}

// fuzzRequests are requests every loaded catalog is quoted for.
var fuzzRequests = func() []*job.Request {
	var out []*job.Request
	for _, d := range []int{1, 5, 10, 60} {
		for _, res := range []job.Resolution{job.Res720p, job.Res4K} {
			out = append(out,
				req(func(r *job.Request) { r.DurationSeconds, r.Resolution = d, res }),
				req(func(r *job.Request) {
					r.DurationSeconds, r.Resolution, r.QualityTier, r.Audio = d, res, job.TierDraft, true
					r.ImageURL = "https://example.com/a.png"
				}))
		}
	}
	return out
}()

// FuzzParse feeds Parse any document: it never panics; a catalog it loads
// validates, marshals back to a document that loads the same, and prices
// every request at a non-negative estimate of at least the requested
// duration; a document it refuses gets an error that starts "catalog:" and,
// for a JSON object, names the field at fault.
func FuzzParse(f *testing.F) {
	for _, s := range []string{string(defaultJSON), fuzzSmall, `{}`, `{"version":"v","backends":[]}`, `[]`, `null`,
		fuzzSmall + ` {}`, `{"version":"v","backends":[{"name":"Bad"}]}`,
		strings.ReplaceAll(fuzzSmall, `0.1`, `100000000`),
		// 0.9 trillion USD a second for 20 s overflowed the estimate to a
		// negative one, the cheapest of all.
		strings.ReplaceAll(strings.ReplaceAll(fuzzSmall, `0.1`, `900000000000`), `[5, 10]`, `[5, 20]`),
		strings.ReplaceAll(fuzzSmall, `[5, 10]`, `[0, 10]`),
		// A bad amount's error named no field ("catalog: money: ...").
		`{"BACkends":[{"offers":[{"priCes":[{"per_seCond_usd":""}]}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			require.Nil(t, c)
			require.True(t, strings.HasPrefix(err.Error(), "catalog: "), err)
			var obj map[string]json.RawMessage
			if json.Unmarshal(b, &obj) == nil && obj != nil {
				require.True(t, slices.ContainsFunc(catalogFields, func(f string) bool { return strings.Contains(err.Error(), f) }),
					"the error names no field: %v", err)
			}
			return
		}
		require.True(t, json.Valid(b), "a catalog with trailing data loads")
		require.NoError(t, c.Validate())
		out, err := json.Marshal(c)
		require.NoError(t, err)
		back, err := Parse(out)
		require.NoError(t, err, "%s", out)
		require.Equal(t, c, back)
		for i := range c.Backends {
			b := &c.Backends[i]
			for _, r := range fuzzRequests {
				q, why := b.Quote(r)
				if why != "" {
					continue
				}
				require.GreaterOrEqual(t, q.Seconds, r.DurationSeconds)
				require.GreaterOrEqual(t, q.Estimate, money.Micros(0), "backend %s quotes %+v at a negative estimate", b.Name, r)
			}
		}
	})
}

// TestCheapestBuildsNoText: routing quotes every backend of every decision
// through Backend.Cheapest, which must not allocate (no reason text for the
// offers that cannot serve, no quote on the heap) and must agree with Quote.
func TestCheapestBuildsNoText(t *testing.T) {
	c := Default()
	std := req(nil)
	premium1080 := req(func(r *job.Request) { r.QualityTier, r.Resolution = job.TierPremium, "1080p" })
	for i := range c.Backends {
		b := &c.Backends[i]
		for _, r := range []*job.Request{std, premium1080} {
			q, ok := b.Cheapest(r)
			want, why := b.Quote(r)
			require.Equal(t, why == "", ok, "%s", b.Name)
			require.Equal(t, want, q, "%s", b.Name)
			require.Equal(t, why, b.Refusal(r), "%s", b.Name)
			allocs := testing.AllocsPerRun(20, func() { b.Cheapest(r) })
			require.Zero(t, allocs, "allocations of %s.Cheapest", b.Name)
		}
	}
}
