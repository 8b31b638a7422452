package recommend

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Kind is what a recommendation is about.
type Kind string

// The kinds of recommendation (see the package doc).
const (
	KindTier       Kind = "tier"
	KindBackendMix Kind = "backend_mix"
	KindCommitment Kind = "commitment"
)

// Month is the month savings are scaled to.
const Month = 30 * 24 * time.Hour

// Recommendation is one way to spend less, with what it would save in a
// month (0: advice without a saving yet).
type Recommendation struct {
	Kind    Kind         `json:"kind"`
	Message string       `json:"message"`
	Savings money.Micros `json:"savings_usd_month"`
}

// Input is what recommendations are made from.
type Input struct {
	Catalog *catalog.Catalog
	// Usage is the project's usage by backend and job shape over Window.
	Usage []store.ShapeCell
	// Window is how long Usage (and ByBackend) covers; savings are scaled
	// from it to a Month. 0: no recommendation.
	Window time.Duration
	// ByBackend is the cost of every settled attempt over Window by
	// backend (shapes known or not), for each backend's share of spend.
	ByBackend map[string]money.Micros
	// Projected is the spend expected over the current month (package
	// forecast), for the commitments.
	Projected money.Micros
}

// For returns the recommendations of in, the largest savings first (then
// by kind and message); an empty list when there is none.
func For(in Input) []Recommendation {
	out := []Recommendation{}
	if in.Window <= 0 || in.Catalog == nil {
		return out
	}
	out = append(out, tiers(in)...)
	out = append(out, mix(in)...)
	out = append(out, commitments(in)...)
	slices.SortFunc(out, func(a, b Recommendation) int {
		return cmp.Or(cmp.Compare(b.Savings, a.Savings), strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Message, b.Message))
	})
	return out
}

// monthly scales m over in.Window to a Month.
func (in Input) monthly(m money.Micros) money.Micros {
	return mulDiv(m, int64(Month/time.Minute), max(int64(in.Window/time.Minute), 1))
}

// days names the window for people, in whole days: "the last 30 days".
func (in Input) days() string {
	n := max(int(in.Window/(24*time.Hour)), 1)
	if n == 1 {
		return "the last day"
	}
	return fmt.Sprintf("the last %d days", n)
}

// mulDiv returns m × a / b (b > 0) without overflowing on the product.
func mulDiv(m money.Micros, a, b int64) money.Micros {
	q, r := int64(m)/b, int64(m)%b
	return money.Micros(q*a + r*a/b)
}

// cheapest returns the cheapest quote of req over every backend of c
// (the first in catalog order on a tie), false when none serves it.
func cheapest(c *catalog.Catalog, req job.Request) (catalog.Quote, bool) {
	var best catalog.Quote
	found := false
	for i := range c.Backends {
		if q, ok := c.Backends[i].Cheapest(&req); ok && (!found || q.Estimate < best.Estimate) {
			best, found = q, true
		}
	}
	return best, found
}

// lowerTier returns the tier below t, "" for draft.
func lowerTier(t job.Tier) job.Tier {
	switch t {
	case job.TierPremium:
		return job.TierStandard
	case job.TierStandard:
		return job.TierDraft
	}
	return ""
}

// share is part of whole in percent, rounded down (0 for no whole).
func share(part, whole money.Micros) int64 {
	if whole <= 0 {
		return 0
	}
	return int64(mulDiv(part, 100, int64(whole)))
}

// total sums in.ByBackend.
func (in Input) total() money.Micros {
	var t money.Micros
	for _, v := range in.ByBackend {
		t += v
	}
	return t
}
