package forecast_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/forecast"
	"github.com/aiprod/aiprod/pkg/money"
)

var dec1 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func usd(s string) money.Micros { return money.MustParse(s) }

func constant(n int, v money.Micros) []money.Micros {
	out := make([]money.Micros, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// A steady $10 a day: the month ends at $310, with no doubt; the daily
// path lists every day of the month, the past ones spent, today and after
// expected, and adds up to the projection; $155 runs out halfway through
// the 16th.
func TestSteadySpend(t *testing.T) {
	t.Parallel()
	now := dec1.AddDate(0, 0, 4).Add(12 * time.Hour) // Dec 5, noon
	p := forecast.Month(forecast.Input{From: dec1.AddDate(0, 0, -28), Days: constant(32, usd("10")), Today: usd("5"),
		Now: now, Limit: ptr(usd("155"))})
	assert.Equal(t, "2026-12", p.Period)
	assert.Equal(t, usd("45"), p.Spent)
	assert.Equal(t, usd("310"), p.Projected)
	assert.Equal(t, usd("310"), p.Low)
	assert.Equal(t, usd("310"), p.High)
	require.Len(t, p.Daily, 31)
	var sum money.Micros
	for i, d := range p.Daily {
		assert.Equal(t, dec1.AddDate(0, 0, i), d.Date)
		assert.Equal(t, i >= 4, d.Forecast, "day %d", i+1)
		assert.Equal(t, usd("10"), d.Cost, "day %d", i+1)
		sum += d.Cost
	}
	assert.Equal(t, p.Projected, sum)
	require.NotNil(t, p.ExhaustionAt)
	assert.Equal(t, time.Date(2026, 12, 16, 12, 0, 0, 0, time.UTC), *p.ExhaustionAt)
}

// Exhaustion: none without a limit or with one the month does not reach;
// within a past day when the spend already passed it; now's side of today
// when today's spend so far reached it.
func TestExhaustion(t *testing.T) {
	t.Parallel()
	now := dec1.AddDate(0, 0, 9).Add(6 * time.Hour) // Dec 10, 06:00
	in := forecast.Input{From: dec1, Days: constant(9, usd("10")), Today: usd("2"), Now: now}
	assert.Nil(t, forecast.Month(in).ExhaustionAt, "no limit")
	in.Limit = ptr(usd("1000"))
	assert.Nil(t, forecast.Month(in).ExhaustionAt, "the month ends first")
	in.Limit = ptr(usd("35"))
	assert.Equal(t, time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), *forecast.Month(in).ExhaustionAt, "halfway through the 4th")
	in.Limit = ptr(usd("91"))
	assert.Equal(t, time.Date(2026, 12, 10, 3, 0, 0, 0, time.UTC), *forecast.Month(in).ExhaustionAt, "today, before now")
	in.Limit = ptr(usd("0"))
	assert.Equal(t, dec1, *forecast.Month(in).ExhaustionAt, "a zero limit is exhausted from the start")
}

// One odd day (a batch run at 20 times the usual spend) does not swing
// the projection of the days to come: what it adds is its own cost.
func TestOneOddDayDoesNotSwingTheTrend(t *testing.T) {
	t.Parallel()
	days := synth(shapes[0], 3, dec1.AddDate(0, 0, -28), 28+14)
	now := dec1.AddDate(0, 0, 14)
	plain := forecast.Month(forecast.Input{From: dec1.AddDate(0, 0, -28), Days: days, Now: now})
	odd := append([]money.Micros(nil), days...)
	odd[28+12] *= 20
	spike := odd[28+12] - days[28+12]
	withSpike := forecast.Month(forecast.Input{From: dec1.AddDate(0, 0, -28), Days: odd, Now: now})
	rest := func(p forecast.Projection) money.Micros { return p.Projected - p.Spent }
	assert.Equal(t, plain.Spent+spike, withSpike.Spent)
	assert.InEpsilon(t, float64(rest(plain)), float64(rest(withSpike)), 0.05, "the days to come move by less than 5%%")
}

// A weekly pattern is projected day by day: a business that spends on
// weekdays only is expected to spend nothing on the coming weekends.
func TestWeekdaysOnly(t *testing.T) {
	t.Parallel()
	from := dec1.AddDate(0, 0, -28)
	var days []money.Micros
	for d := range 28 + 15 {
		v := usd("100")
		if wd := from.AddDate(0, 0, d).Weekday(); wd == time.Saturday || wd == time.Sunday {
			v = 0
		}
		days = append(days, v)
	}
	p := forecast.Month(forecast.Input{From: from, Days: days, Now: dec1.AddDate(0, 0, 15)})
	for _, d := range p.Daily[15:] {
		want := usd("100")
		if wd := d.Date.Weekday(); wd == time.Saturday || wd == time.Sunday {
			want = 0
		}
		assert.Equal(t, want, d.Cost, d.Date.Format("Mon Jan 2"))
	}
}

// A project new this month: the days before its first spend are not its
// history (its pace is that of the days it has spent), and on its first
// day its pace is today's.
func TestANewProject(t *testing.T) {
	t.Parallel()
	days := append(constant(28+7, 0), constant(3, usd("20"))...) // spends from Dec 8
	p := forecast.Month(forecast.Input{From: dec1.AddDate(0, 0, -28), Days: days, Now: dec1.AddDate(0, 0, 10)})
	assert.Equal(t, usd("60"), p.Spent)
	assert.Equal(t, usd("60")+usd("20").Times(21), p.Projected)
	assert.Equal(t, 3, p.HistoryDays, "the days since its first spend")

	first := forecast.Month(forecast.Input{From: dec1, Today: usd("3"), Now: dec1.AddDate(0, 0, 19).Add(6 * time.Hour)})
	assert.Equal(t, usd("3"), first.Spent)
	assert.Equal(t, usd("3")+usd("12").Times(12)-usd("3"), first.Projected, "$3 in 6 hours: $12 a day")
	assert.Zero(t, first.HistoryDays, "today's pace only")
	assert.Equal(t, first.Spent, first.Low, "on today's pace only, the spend may stop where it is")
	assert.Greater(t, first.High, first.Projected)

	none := forecast.Month(forecast.Input{Now: dec1.AddDate(0, 0, 3)})
	assert.Zero(t, none.Projected)
	assert.Len(t, none.Daily, 31)
}
