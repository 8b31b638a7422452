package forecast

import (
	"math"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
)

// WindowDefault is how many of the last days of history a fit uses.
const WindowDefault = 28

// fitPasses is how many times trend and season are fitted in turn.
const fitPasses = 2

// Fit is a model of daily spend fitted on a history: a robust linear
// trend times a factor per weekday (see the package doc). Its zero value
// expects no spend. It is a value: safe to share.
type Fit struct {
	n      int          // days fitted on; day t of the model is history day t
	first  time.Weekday // weekday of day 0
	level  float64      // deseasonalised trend at day 0, in micro-USD
	slope  float64      // its change per day
	season [7]float64   // factor per weekday (time.Weekday), mean 1
	sigma  float64      // standard deviation of the deseasonalised residuals
	// sigmaRel is that of the residuals relative to the trend: a day's
	// noise grows with its level.
	sigmaRel float64
	tMean    float64 // mean day of the points fitted
	sxx      float64 // Σ (t − tMean)² over them
	points   int     // days the line was fitted on (a factor of 0 drops a day)
}

// FitDays fits a model on days, the daily spend of consecutive days,
// oldest first; first is the weekday of days[0]. Only the last window days
// are used (window ≤ 0: WindowDefault), from the first with spend: the
// days before a project's first spend are not part of its history.
func FitDays(days []money.Micros, first time.Weekday, window int) Fit {
	if window <= 0 {
		window = WindowDefault
	}
	drop := max(len(days)-window, 0)
	for drop < len(days) && days[drop] == 0 {
		drop++
	}
	days = days[drop:]
	first = time.Weekday((int(first) + drop) % 7)
	f := Fit{n: len(days), first: first}
	for d := range f.season {
		f.season[d] = 1
	}
	if f.n == 0 {
		return f
	}
	y := make([]float64, f.n)
	for i, v := range days {
		y[i] = float64(v)
	}
	for pass := 0; ; pass++ {
		f.fitTrend(y)
		if pass == fitPasses || f.n < 7 {
			break
		}
		f.fitSeason(y)
	}
	f.fitSigma(y)
	f.shrinkSlope()
	return f
}

// weekday returns the weekday of model day t.
func (f *Fit) weekday(t int) time.Weekday { return time.Weekday((int(f.first) + t) % 7) }

// trend returns the deseasonalised trend at day t, never below 0.
func (f *Fit) trend(t int) float64 { return max(0, f.level+f.slope*float64(t)) }

// fitTrend fits level and slope by Theil–Sen on the deseasonalised days
// (a day whose factor is 0 says nothing about the trend and is left out).
func (f *Fit) fitTrend(y []float64) {
	ts, zs := f.deseasonalised(y)
	f.points = len(ts)
	f.level, f.slope = theilSen(ts, zs)
	f.tMean, f.sxx = 0, 0
	for _, t := range ts {
		f.tMean += t
	}
	if len(ts) > 0 {
		f.tMean /= float64(len(ts))
	}
	for _, t := range ts {
		f.sxx += (t - f.tMean) * (t - f.tMean)
	}
}

// deseasonalised returns the days with a factor above 0 and their spend
// divided by it.
func (f *Fit) deseasonalised(y []float64) (ts, zs []float64) {
	for t, v := range y {
		if s := f.season[f.weekday(t)]; s > 0 {
			ts = append(ts, float64(t))
			zs = append(zs, v/s)
		}
	}
	return ts, zs
}

// fitSeason sets each weekday's factor to the median of spend over trend
// on its days (where the trend is above 0), then scales the factors to
// average 1. A weekday without such a day keeps factor 1.
func (f *Fit) fitSeason(y []float64) {
	var ratios [7][]float64
	for t, v := range y {
		if tr := f.trend(t); tr > 0 {
			ratios[f.weekday(t)] = append(ratios[f.weekday(t)], v/tr)
		}
	}
	var sum float64
	for d := range f.season {
		if len(ratios[d]) > 0 {
			f.season[d] = median(ratios[d])
		} else {
			f.season[d] = 1
		}
		sum += f.season[d]
	}
	if sum <= 0 {
		for d := range f.season {
			f.season[d] = 1
		}
		return
	}
	for d := range f.season {
		f.season[d] *= 7 / sum
	}
}

// fitSigma sets sigma and sigmaRel, the standard deviations of the
// residuals of the deseasonalised days around the line (absolute, and
// relative to the line), for the p parameters fitted on m days:
// √(Σr²/(m−p)). Residuals beyond 4 robust deviations (1.4826 × their
// median absolute value) count as 4: one odd day widens the interval a
// little, not by its whole size, and does not flatten the slope
// (shrinkSlope). The median leaves out the days of a weekday seen once,
// whose factor fits them exactly. With fewer than three days sigma is the
// mean daily spend and sigmaRel 1.
func (f *Fit) fitSigma(y []float64) {
	ts, zs := f.deseasonalised(y)
	if len(ts) < 3 {
		var sum float64
		for _, v := range y {
			sum += v
		}
		f.sigma, f.sigmaRel = sum/float64(len(y)), 1
		return
	}
	var seen [7]int
	for _, t := range ts {
		seen[f.weekday(int(t))]++
	}
	abs := make([]float64, len(ts))
	rel := make([]float64, len(ts))
	var informative []int // days whose residual says something of the noise
	for i, t := range ts {
		tr := f.level + f.slope*t
		r := zs[i] - tr
		abs[i] = math.Abs(r)
		rel[i] = 1 // spend where none was expected: a whole level off
		if tr > 0 {
			rel[i] = math.Abs(r / tr)
		}
		if f.n < 7 || seen[f.weekday(int(t))] > 1 {
			informative = append(informative, i)
		}
	}
	dof := float64(max(len(ts)-f.params(), 1))
	f.sigma = clippedSD(abs, informative, dof)
	f.sigmaRel = clippedSD(rel, informative, dof)
}

// clippedSD returns √(Σr²/dof) of the absolute residuals r, each clipped
// at 4 robust standard deviations of those at the indexes informative
// (none clipped when they are fewer than 3; see fitSigma).
func clippedSD(r []float64, informative []int, dof float64) float64 {
	c := math.Inf(1)
	if len(informative) >= 3 {
		sample := make([]float64, len(informative))
		for i, j := range informative {
			sample[i] = r[j]
		}
		c = 4 * 1.4826 * median(sample)
	}
	var ss float64
	for _, v := range r {
		v = min(v, c)
		ss += v * v
	}
	return math.Sqrt(ss / dof)
}

// shrinkSlope multiplies the slope by b²/(b² + se²), se its standard
// error, keeping the line's value at the mean day: a slope within its
// noise is mostly dropped, a clear one kept.
func (f *Fit) shrinkSlope() {
	if f.sxx <= 0 || f.points < 3 {
		return
	}
	se2 := f.sigma * f.sigma / f.sxx
	if b2 := f.slope * f.slope; b2+se2 > 0 {
		k := b2 / (b2 + se2)
		f.level += (1 - k) * f.slope * f.tMean
		f.slope *= k
	}
}

// params is how many parameters the fit estimated: level and slope, and
// six free factors (seven averaging 1) when it has a season.
func (f *Fit) params() int {
	if f.n < 7 {
		return 2
	}
	return 8
}

// Expect returns the expected spend of the h-th day after the history
// (h = 0: the day right after its last day).
func (f Fit) Expect(h int) money.Micros { return money.Micros(math.Round(f.expect(f.n + h))) }

func (f *Fit) expect(t int) float64 { return f.trend(t) * f.season[f.weekday(t)] }

// Sum returns the expected spend of the days after the history, day h
// counted for weights[h] of itself (1: the whole day; a share for the
// rest of a day under way), rounded to micro-USD, and the half width of
// its interval at about 90% (see the package doc).
func (f Fit) Sum(weights []float64) (mean, half money.Micros) {
	var mu, noise, ws, wst float64
	for h, w := range weights {
		t := f.n + h
		s := f.season[f.weekday(t)]
		mu += w * f.expect(t)
		if f.points >= 3 {
			d := w * s * f.sigmaRel * f.trend(t)
			noise += d * d
		} else {
			noise += w * w * s * s * f.sigma * f.sigma
		}
		ws += w * s
		wst += w * s * (float64(t) - f.tMean)
	}
	line := 0.0
	if f.points >= 3 {
		line = ws * ws / float64(f.points)
		if f.sxx > 0 {
			line += wst * wst / f.sxx
		}
	}
	q := studentT95(f.points - f.params())
	sd := math.Sqrt(noise + f.sigma*f.sigma*line)
	return money.Micros(math.Round(mu)), money.Micros(math.Round(q * sd))
}

// theilSen returns the Theil–Sen line through (ts, zs): the median of the
// pairwise slopes and the median intercept. One point gives a flat line
// at it; none, a line at 0.
func theilSen(ts, zs []float64) (level, slope float64) {
	switch len(ts) {
	case 0:
		return 0, 0
	case 1:
		return zs[0], 0
	}
	slopes := make([]float64, 0, len(ts)*(len(ts)-1)/2)
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			slopes = append(slopes, (zs[j]-zs[i])/(ts[j]-ts[i]))
		}
	}
	slope = median(slopes)
	rest := make([]float64, len(ts))
	for i := range ts {
		rest[i] = zs[i] - slope*ts[i]
	}
	return median(rest), slope
}

// median returns the median of v (which it sorts); v is not empty.
func median(v []float64) float64 {
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// studentT95 approximates the 95th percentile of Student's t with df
// degrees of freedom (the upper bound of a two-sided 90% interval): the
// normal quantile with the first Cornish–Fisher correction, within 2% of
// the exact value from 3 degrees of freedom on. df < 3 is taken as 3.
func studentT95(df int) float64 {
	const z = 1.6448536269514722
	n := float64(max(df, 3))
	return z + (z*z*z+z)/(4*n) + (5*math.Pow(z, 5)+16*z*z*z+3*z)/(96*n*n)
}
