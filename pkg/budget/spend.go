package budget

import (
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/forecast"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// SpendWindow is how far back ReadSpend reads: 30 whole days before
// today, which hold the current month's days and the four weeks the
// forecast is fitted on (forecast.WindowDefault).
const SpendWindow = 30 * 24 * time.Hour

// Spend is a project's settled usage over the 30 days before now's day
// and that day so far, from the daily roll-ups (see Usage): what the
// forecast and the recommendations are computed from.
type Spend struct {
	ProjectID string
	From, Now time.Time // From is a midnight, SpendWindow before Now's
	Tally     *Tally
}

// ReadSpend reads project's Spend at now: at most 31 roll-ups, and the
// ledger entries settled since the roll-up watermark.
func ReadSpend(ctx context.Context, st store.Store, project string, now time.Time) (Spend, error) {
	now = now.UTC()
	from := now.Truncate(24 * time.Hour).Add(-SpendWindow)
	t, err := Usage(ctx, st, project, from, now)
	if err != nil {
		return Spend{}, err
	}
	return Spend{ProjectID: project, From: from, Now: now, Tally: t}, nil
}

// Daily returns the cost of each whole day from From to the day before
// Now's, and that of Now's day so far.
func (s Spend) Daily() (days []money.Micros, today money.Micros) {
	_, groups := s.Tally.Groups(GroupByDay)
	byDay := make(map[string]money.Micros, len(groups))
	for _, g := range groups {
		byDay[g.Key] = g.Cost
	}
	end := s.Now.Truncate(24 * time.Hour)
	for d := s.From; d.Before(end); d = d.Add(24 * time.Hour) {
		days = append(days, byDay[Day(d)])
	}
	return days, byDay[Day(end)]
}

// Forecast projects the spend of Now's month to its end (package
// forecast); limit places ExhaustionAt (nil: none).
func (s Spend) Forecast(limit *money.Micros) forecast.Projection {
	days, today := s.Daily()
	return forecast.Month(forecast.Input{From: s.From, Days: days, Today: today, Now: s.Now, Limit: limit})
}

// Observed is how long the window shows the project spending: from the
// first day with a cost (or From) to Now. Savings seen over it are scaled
// to a month with it. Zero when nothing was spent.
func (s Spend) Observed() time.Duration {
	_, groups := s.Tally.Groups(GroupByDay)
	for _, g := range groups { // sorted by day
		if g.Cost == 0 {
			continue
		}
		d, err := time.Parse(time.DateOnly, g.Key)
		if err != nil {
			continue
		}
		if d.Before(s.From) {
			d = s.From
		}
		return s.Now.Sub(d)
	}
	return 0
}
