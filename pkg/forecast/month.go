package forecast

import (
	"math"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
)

const day = 24 * time.Hour

// Input is what a month's projection is made from.
type Input struct {
	// From is the UTC day of Days[0] (its midnight).
	From time.Time
	// Days is the spend of whole UTC days from From, oldest first, up to
	// the day before Now's; days of the month before From count as 0.
	// Give at least the month's days so far and, for the fit, a few weeks
	// before (Window).
	Days []money.Micros
	// Today is the spend of Now's day so far.
	Today money.Micros
	// Now places the projection: its month (UTC) is the period.
	Now time.Time
	// Limit is the period's limit, for ExhaustionAt; nil: none.
	Limit *money.Micros
	// Window is how many of the last whole days the model is fitted on;
	// 0: WindowDefault.
	Window int
}

// Day is one day of a projection: what was spent, or, with Forecast, what
// is expected (today: what was spent so far plus what is expected of the
// rest of the day).
type Day struct {
	Date     time.Time // the day's midnight, UTC
	Cost     money.Micros
	Forecast bool
}

// Projection is a month's spend, projected to its end.
type Projection struct {
	Period string // "2026-12"
	// Spent is the spend of the month so far (its days before today and
	// today's so far).
	Spent money.Micros
	// Projected is the expected total at the end of the month: Spent plus
	// the expected spend of the rest of today and of the days after. Low
	// and High bound it at about 90%; Low is never below Spent.
	Projected, Low, High money.Micros
	// ExhaustionAt is when the cumulative spend, as spent and then as
	// expected, first reaches Limit (by linear interpolation within the
	// day, at or before Now when it already has); nil without a limit or
	// when the month ends first.
	ExhaustionAt *time.Time
	// Daily is every day of the month: past ones spent, today and later
	// ones expected (Forecast).
	Daily []Day
	// HistoryDays is how many whole days of spend, since the project's
	// first, the projection stands on (up to Window). 0: none yet, only
	// today's pace, extrapolated over at least an hour: an hour of
	// testing is not a month's pace, so Low is then Spent (the spend may
	// stop there), and budget.CheckForecast announces nothing.
	HistoryDays int
}

// Month projects the month of in.Now to its end (see the package doc).
func Month(in Input) Projection {
	now := in.Now.UTC()
	today := now.Truncate(day)
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	from := in.From.UTC().Truncate(day)
	hist := history(from, today, in.Days)
	fit := FitDays(hist.days, hist.first.Weekday(), in.Window)
	historyDays := fit.n
	if fit.n == 0 && in.Today > 0 {
		// No whole day with spend yet: today's pace, over at least an hour.
		elapsed := max(now.Sub(today), time.Hour)
		rate := money.Micros(math.Round(float64(in.Today) * float64(day) / float64(elapsed)))
		fit = FitDays([]money.Micros{rate}, today.Weekday(), 1)
		fit.n = 0 // the day fitted is today, not the day before
		fit.first = today.Weekday()
	}

	p := Projection{Period: start.Format("2006-01"), HistoryDays: historyDays}
	for d := start; d.Before(today); d = d.Add(day) {
		c := hist.at(d)
		p.Daily = append(p.Daily, Day{Date: d, Cost: c})
		p.Spent += c
	}
	p.Spent += in.Today
	// Weights of the days to come: the rest of today, then whole days.
	future := int(end.Sub(today) / day)
	weights := make([]float64, future)
	for h := range weights {
		weights[h] = 1
	}
	weights[0] = float64(today.Add(day).Sub(now)) / float64(day)
	// The history ends the day before today: its next day is today.
	rest, half := fit.Sum(weights)
	p.Projected = p.Spent + rest
	p.Low = p.Spent + max(0, rest-half)
	if historyDays == 0 {
		p.Low = p.Spent
	}
	p.High = p.Projected + half
	p.Daily = append(p.Daily, futureDays(fit, today, in.Today, weights, rest)...)
	p.ExhaustionAt = exhaustion(p.Daily, now, in.Today, in.Limit)
	return p
}

// futureDays returns today and the days after it as expected: today's
// spend so far plus its rest, then each day's expectation; the last day
// takes what rounding left over, so that they add up to today's spend
// plus rest exactly.
func futureDays(fit Fit, today time.Time, spentToday money.Micros, weights []float64, rest money.Micros) []Day {
	out := make([]Day, len(weights))
	var sum money.Micros
	for h := range weights {
		m := money.Micros(math.Round(weights[h] * fit.expect(fit.n+h)))
		if h == len(weights)-1 {
			m = rest - sum
		}
		sum += m
		out[h] = Day{Date: today.Add(time.Duration(h) * day), Cost: m, Forecast: true}
	}
	out[0].Cost += spentToday
	return out
}

// exhaustion returns when the cumulative spend of days first reaches
// limit: within a past day by linear interpolation over it; within today
// over the part before now (spentToday) or the part after; within a
// future day over it. Nil without a limit or when the days never reach it.
func exhaustion(days []Day, now time.Time, spentToday money.Micros, limit *money.Micros) *time.Time {
	if limit == nil {
		return nil
	}
	type segment struct {
		from, to time.Time
		cost     money.Micros
	}
	var segs []segment
	for _, d := range days {
		switch {
		case !d.Forecast:
			segs = append(segs, segment{d.Date, d.Date.Add(day), d.Cost})
		case d.Date.Equal(now.Truncate(day)):
			segs = append(segs, segment{d.Date, now, spentToday}, segment{now, d.Date.Add(day), d.Cost - spentToday})
		default:
			segs = append(segs, segment{d.Date, d.Date.Add(day), d.Cost})
		}
	}
	var cum money.Micros
	for _, s := range segs {
		if cum >= *limit {
			return &s.from
		}
		if cum+s.cost >= *limit && s.cost > 0 {
			frac := float64(*limit-cum) / float64(s.cost)
			at := s.from.Add(time.Duration(frac * float64(s.to.Sub(s.from)))).Round(time.Second)
			return &at
		}
		cum += s.cost
	}
	return nil
}

// hist is the whole days before today, from its first day.
type hist struct {
	first time.Time
	days  []money.Micros
}

// history returns the days from from to today (exclusive): those of
// days, trimmed of what lies at or after today, and 0 for the days
// missing before today (a day without usage has no roll-up).
func history(from, today time.Time, days []money.Micros) hist {
	n := int(today.Sub(from) / day)
	if n <= 0 {
		return hist{first: today}
	}
	out := make([]money.Micros, n)
	copy(out, days)
	return hist{first: from, days: out}
}

// at returns the spend of day d (0 outside the history).
func (h hist) at(d time.Time) money.Micros {
	i := int(d.Sub(h.first) / day)
	if d.Before(h.first) || i >= len(h.days) {
		return 0
	}
	return h.days[i]
}
