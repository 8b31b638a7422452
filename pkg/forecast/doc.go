// Package forecast projects a project's spend to the end of its budget
// period (a calendar month in UTC) from its daily spend: the month-end
// total with an interval, the day by day path, and when the cumulative
// spend would pass a limit. It is pure: slices of daily amounts in, a
// projection out; package budget reads the daily usage roll-ups it works
// on, and package api and the usage roller call it.
//
// # Method
//
// The model is the classical decomposition of a daily series into a trend
// and a weekly season, fitted robustly so that one odd day (a batch run, an
// outage) does not swing it:
//
//   - the trend is a straight line, level + slope × day, fitted by
//     Theil–Sen: the slope is the median of the slopes between every pair
//     of days, the level the median of what is left; half the days can be
//     outliers before it moves;
//   - the season is one factor per weekday, multiplicative (spend on
//     Saturdays is 40% of a weekday's, whatever the level): the median,
//     over the history's days of that weekday, of spend over trend,
//     normalised to average 1 over the week; with less than a week of
//     history there is no season (every factor 1);
//   - trend and season are fitted in turn (the trend on deseasonalised
//     days, the season on detrended ones), twice;
//   - the slope is then shrunk towards 0 by b²/(b² + se²), se its
//     standard error: a slope the history cannot tell from noise (a flat
//     month seen for nine days) is not extrapolated over three weeks, a
//     clear one is kept almost whole.
//
// The fit uses the last Window days of history (WindowDefault, four
// weeks: four samples of each weekday, and short enough to follow a
// change of pace). The expected spend of a future day is max(0, trend)
// × its weekday's factor.
//
// # Interval
//
// Low and high bound the month-end total at about 90%. The spend so far
// is known; the rest is a sum of future days, whose error is the noise of
// each day plus the error of the fitted line:
//
//	var = Σ (wₕ Sₕ σᵣ Tₕ)² + σ² ((Σ wₕSₕ)²/n + (Σ wₕSₕ(tₕ−t̄))²/Σ(t−t̄)²)
//
// where wₕ is the share of day h still to come (the rest of today, then
// 1), Sₕ its factor, Tₕ its trend, σᵣ the standard deviation of the
// residuals relative to the trend (a day's noise grows with its level), σ
// that of the residuals themselves, and the second term the ordinary
// least-squares variance of level and slope (an approximation of
// Theil–Sen's). Both deviations count the parameters fitted (2, and 6
// free factors with a season), and clip residuals at 4 robust standard
// deviations (1.4826 × the median absolute residual), so that one odd
// day neither blows the interval up nor flattens the slope. The half width is Student's t at 95%
// with those degrees of freedom times the square root. With fewer than
// three days of history σ is the mean daily spend and σᵣ 1: a wide
// interval that says how little is known.
//
// # Money
//
// Amounts in and out are integer micro-USD (package money). Floats are
// used inside the fit only (medians, the line, the variances); every
// amount that leaves the package is rounded to the nearest micro-USD,
// and a projection is the spend so far (exact) plus the rounded sum of
// the days to come, so the total of the daily path and the projection
// agree to the micro-USD.
//
// # Accuracy
//
// TestBacktestMonthEnd replays synthetic months (trend up, flat or down,
// mild or strong weekly seasons, noise, seeded) and projects each month's
// end from every day from the 10th on: the mean absolute percentage error
// stays under 10% (the figures are logged), and the interval holds the
// actual total in most cases.
package forecast
