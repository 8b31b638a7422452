package recommend

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

// sum is the spend, saving and videos of a group of usage cells.
type sum struct {
	spend, savings money.Micros
	videos         int
}

// tiers recommends asking for a lower tier: for each tier above draft,
// the saving of the cheapest price one tier down over the cheapest at the
// tier asked, per video made.
func tiers(in Input) []Recommendation {
	spent := map[job.Tier]money.Micros{}
	groups := map[job.Tier]*sum{}
	for _, c := range in.Usage {
		spent[c.Shape.Tier] += c.Cost
		lower := lowerTier(c.Shape.Tier)
		if c.AttemptsSucceeded == 0 || lower == "" {
			continue
		}
		req := c.Shape.Request()
		at, ok := cheapest(in.Catalog, req)
		if !ok {
			continue
		}
		req.QualityTier = lower
		down, ok := cheapest(in.Catalog, req)
		if !ok || down.Estimate >= at.Estimate {
			continue
		}
		g := groups[c.Shape.Tier]
		if g == nil {
			g = &sum{}
			groups[c.Shape.Tier] = g
		}
		g.spend += c.Cost
		g.savings += (at.Estimate - down.Estimate).Times(c.AttemptsSucceeded)
		g.videos += c.AttemptsSucceeded
	}
	var out []Recommendation
	for _, t := range slices.Sorted(maps.Keys(groups)) {
		g := groups[t]
		save := in.monthly(g.savings)
		if save <= 0 {
			continue
		}
		out = append(out, Recommendation{Kind: KindTier, Savings: save, Message: fmt.Sprintf(
			"%s video was %d%% of the spend over %s (%s); %d of those videos would cost %s less at %s: %s a month saved "+
				"where %s is good enough (quality_tier).",
			t, share(spent[t], in.total()), in.days(), spent[t].Cents(), g.videos, g.savings.Cents(), lowerTier(t),
			save.Cents(), lowerTier(t))})
	}
	return out
}

// mix recommends the cheaper backend for spend that went to a dearer one
// serving the same shape at the same tier.
func mix(in Input) []Recommendation {
	type pair struct{ used, cheaper string }
	groups := map[pair]*sum{}
	for _, c := range in.Usage {
		if c.AttemptsSucceeded == 0 {
			continue
		}
		best, ok := cheapest(in.Catalog, c.Shape.Request())
		if !ok || best.Backend == c.Backend {
			continue
		}
		save := c.Cost - best.Estimate.Times(c.AttemptsSucceeded)
		if save <= 0 {
			continue
		}
		k := pair{c.Backend, best.Backend}
		if groups[k] == nil {
			groups[k] = &sum{}
		}
		groups[k].spend += c.Cost
		groups[k].savings += save
		groups[k].videos += c.AttemptsSucceeded
	}
	var out []Recommendation
	for k, g := range groups {
		save := in.monthly(g.savings)
		if save <= 0 {
			continue
		}
		out = append(out, Recommendation{Kind: KindBackendMix, Savings: save, Message: fmt.Sprintf(
			"%s made %d videos for %s over %s that %s makes for %s less: %s a month saved if they go to %s. "+
				"Routing passes the cheapest backend over when it is down or at its concurrency, or when a request's "+
				"backends list leaves it out: check %s's health and the allow-lists.",
			k.used, g.videos, g.spend.Cents(), in.days(), k.cheaper, g.savings.Cents(), save.Cents(), k.cheaper, k.cheaper)})
	}
	return out
}

// commitments prices each catalog commitment at the spend the forecast
// expects on its backend this month.
func commitments(in Input) []Recommendation {
	total := in.total()
	if total <= 0 || in.Projected <= 0 {
		return nil
	}
	var out []Recommendation
	for _, b := range in.Catalog.Backends {
		cm := b.Commitment
		if cm == nil {
			continue
		}
		list := mulDiv(in.Projected, int64(in.ByBackend[b.Name]), int64(total))
		offer := fmt.Sprintf("%s offers a committed-use price: %s a month for %d%% off (%s, %s). The forecast puts this month's %s spend at %s at list prices",
			b.Name, cm.MonthlyUSD.Cents(), cm.DiscountPercent, cm.Source, cm.AsOf, b.Name, list.Cents())
		switch cost := cm.Cost(list); {
		case cost < list:
			out = append(out, Recommendation{Kind: KindCommitment, Savings: list - cost, Message: fmt.Sprintf(
				"%s; committed, it would cost %s: %s a month saved.", offer, cost.Cents(), (list - cost).Cents())})
		case list*2 >= cm.MonthlyUSD:
			out = append(out, Recommendation{Kind: KindCommitment, Message: fmt.Sprintf(
				"%s, below the commitment: it would pay off once the %s spend passes %s a month.", offer, b.Name, cm.MonthlyUSD.Cents())})
		}
	}
	return out
}
