package recommend_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/recommend"
	"github.com/aiprod/aiprod/pkg/store"
)

// testCatalog has a cheap and a dear backend, each with a standard and a
// premium offer; the dear one sells a commitment of $100 a month for 20%
// off.
const testCatalog = `{"version": "test", "backends": [
 {"name": "cheap", "provider": "luma", "endpoint": "http://cheap", "offers": [
  {"model": "c-std", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
   "text_to_video": true, "prices": [{"per_second_usd": 0.1, "source": "test", "as_of": "2026-11-01"}]},
  {"model": "c-pre", "tier": "premium", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
   "text_to_video": true, "prices": [{"per_second_usd": 0.3, "source": "test", "as_of": "2026-11-01"}]}]},
 {"name": "dear", "provider": "runway", "endpoint": "http://dear",
  "commitment": {"monthly_usd": 100, "discount_percent": 20, "source": "test quote", "as_of": "2026-11-01"}, "offers": [
  {"model": "d-std", "tier": "standard", "resolutions": ["720p", "1080p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
   "text_to_video": true, "prices": [{"per_second_usd": 0.14, "source": "test", "as_of": "2026-11-01"}]},
  {"model": "d-pre", "tier": "premium", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5, 10],
   "text_to_video": true, "prices": [{"per_second_usd": 0.4, "source": "test", "as_of": "2026-11-01"}]}]}]}`

func usd(s string) money.Micros { return money.MustParse(s) }

func shape(tier job.Tier, res job.Resolution) store.Shape {
	return store.Shape{Tier: tier, Resolution: res, AspectRatio: job.Aspect16x9, Seconds: 5}
}

// input is 15 days of usage: premium videos on both backends, standard
// ones on the dear backend (which the cheap one makes for less), and
// 1080p ones only the dear backend makes.
func input(t *testing.T, projected string) recommend.Input {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	require.NoError(t, err)
	return recommend.Input{
		Catalog: cat, Window: 15 * 24 * time.Hour, Projected: usd(projected),
		Usage: []store.ShapeCell{
			{Backend: "cheap", Shape: shape(job.TierPremium, job.Res720p), Cost: usd("30"), Attempts: 21, AttemptsSucceeded: 20},
			{Backend: "dear", Shape: shape(job.TierPremium, job.Res720p), Cost: usd("10"), Attempts: 5, AttemptsSucceeded: 5},
			{Backend: "dear", Shape: shape(job.TierStandard, job.Res720p), Cost: usd("7"), Attempts: 10, AttemptsSucceeded: 10},
			{Backend: "dear", Shape: shape(job.TierStandard, job.Res1080p), Cost: usd("14"), Attempts: 20, AttemptsSucceeded: 20},
		},
		ByBackend: map[string]money.Micros{"cheap": usd("30"), "dear": usd("31")},
	}
}

// Each kind with its money: 25 premium videos at $1 less each in
// standard, and 15 videos on the dear backend at $4.50 more than the
// cheap one asks, over 15 days, are $50 and $9 a month; the commitment,
// at the $310 the forecast puts on the dear backend (31/61 of $610
// projected), costs $248.
func TestRecommendationsWithMoney(t *testing.T) {
	t.Parallel()
	got := recommend.For(input(t, "610"))
	require.Len(t, got, 3)
	assert.Equal(t, recommend.KindCommitment, got[0].Kind)
	assert.Equal(t, usd("62"), got[0].Savings)
	assert.Contains(t, got[0].Message, "dear offers a committed-use price: $100.00 a month for 20% off (test quote, 2026-11-01)")
	assert.Contains(t, got[0].Message, "$310.00 at list prices; committed, it would cost $248.00: $62.00 a month saved.")

	assert.Equal(t, recommend.Recommendation{Kind: recommend.KindTier, Savings: usd("50"), Message: "premium video was 65% of " +
		"the spend over the last 15 days ($40.00); 25 of those videos would cost $25.00 less at standard: $50.00 a month saved " +
		"where standard is good enough (quality_tier)."}, got[1])

	assert.Equal(t, recommend.KindBackendMix, got[2].Kind)
	assert.Equal(t, usd("9"), got[2].Savings)
	assert.Contains(t, got[2].Message, "dear made 15 videos for $17.00 over the last 15 days that cheap makes for $4.50 less: "+
		"$9.00 a month saved if they go to cheap.")
}

// A commitment that would not pay off at the forecast is advice without
// a saving while the spend is at least half of it, and nothing below.
func TestCommitmentThatWouldNotPayOff(t *testing.T) {
	t.Parallel()
	got := recommend.For(input(t, "150")) // $76.23 on dear
	last := got[len(got)-1]
	assert.Equal(t, recommend.KindCommitment, last.Kind)
	assert.Zero(t, last.Savings)
	assert.Contains(t, last.Message, "$76.23 at list prices, below the commitment: it would pay off once the dear spend passes $100.00 a month.")

	for _, r := range recommend.For(input(t, "90")) { // $45.74 on dear
		assert.NotEqual(t, recommend.KindCommitment, r.Kind)
	}
}

// Nothing to recommend: spend already at the cheapest backend and the
// lowest tier, no window, or no usage.
func TestNothingToRecommend(t *testing.T) {
	t.Parallel()
	in := input(t, "0")
	in.Usage = []store.ShapeCell{{Backend: "cheap", Shape: shape(job.TierStandard, job.Res720p), Cost: usd("5"), Attempts: 10, AttemptsSucceeded: 10}}
	in.ByBackend = map[string]money.Micros{"cheap": usd("5")}
	assert.Empty(t, recommend.For(in), "standard at the cheapest backend, and no draft offer")
	in = input(t, "610")
	in.Window = 0
	assert.NotNil(t, recommend.For(in))
	assert.Empty(t, recommend.For(in))
	assert.Empty(t, recommend.For(recommend.Input{Catalog: in.Catalog, Window: time.Hour}))
}
