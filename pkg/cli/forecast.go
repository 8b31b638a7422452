package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/money"
)

func init() {
	register(command{"forecast", "[flags]", "project this month's spend to its end; savings recommendations", runForecast})
}

// chartWidth is the width of the longest bar of the forecast's charts.
const chartWidth = 40

func runForecast(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "forecast", "[flags]",
		"Project the project's spend for this month to its end, from its daily spend: a trend and a\n"+
			"weekly season fitted on the last four weeks (see GET /v1/forecast). Prints the spend so far,\n"+
			"the projection with its ~90% interval, the monthly limit and when it would run out, a chart\n"+
			"of daily spend (█ spent, ░ expected) and of the month against the limit (▒ the interval,\n"+
			"| the limit), then the recommendations with the money each saves a month (GET\n"+
			"/v1/recommendations: a lower tier, a cheaper backend, a committed-use price).\n"+
			"--json prints the two API bodies, the forecast's then the recommendations', one JSON\n"+
			"document each.")
	af := addAPIFlags(fs, env)
	asJSON := fs.Bool("json", false, "print the API bodies as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	c := af.client()
	var f api.ForecastView
	if err := c.Do(ctx, http.MethodGet, "/v1/forecast", nil, &f); err != nil {
		return err
	}
	var recs api.RecommendationsView
	if err := c.Do(ctx, http.MethodGet, "/v1/recommendations", nil, &recs); err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env.Stdout, f); err != nil {
			return err
		}
		return printJSON(env.Stdout, recs)
	}
	printForecast(env.Stdout, f)
	printRecommendations(env.Stdout, recs)
	return nil
}

// printForecast writes the figures of f, its daily chart and the month
// against the limit.
func printForecast(w io.Writer, f api.ForecastView) {
	fmt.Fprintf(w, "forecast for %s\n\n", f.Period)
	fmt.Fprintf(w, "  spent      %s\n", f.Spent.Cents())
	fmt.Fprintf(w, "  projected  %s  (likely %s to %s)\n", f.Projected.Cents(), f.Low.Cents(), f.High.Cents())
	limit, runsOut := "none", "-"
	if f.Limit != nil {
		limit, runsOut = f.Limit.Cents(), "not this month"
	}
	if f.ExhaustionAt != nil {
		runsOut = f.ExhaustionAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(w, "  limit      %s\n  runs out   %s\n\n", limit, runsOut)
	if f.HistoryDays == 0 && f.Spent > 0 {
		fmt.Fprintf(w, "  note: no whole day of spend yet: this is today's pace carried to the month's end, not a\n"+
			"  forecast (it may stop at %s). It firms up after the first whole day.\n\n", f.Spent.Cents())
	}

	var top money.Micros
	for _, d := range f.Daily {
		top = max(top, d.Cost)
	}
	for _, d := range f.Daily {
		mark := "█"
		if d.Forecast {
			mark = "░"
		}
		fmt.Fprintf(w, "  %s  %-*s %s\n", d.Day[5:], chartWidth, strings.Repeat(mark, cells(d.Cost, top, chartWidth)), d.Cost.Cents())
	}
	fmt.Fprintf(w, "\n  month  %s\n", monthBar(f))
}

// monthBar draws the month against the limit: █ to the spend so far, ░
// to the interval's low end, ▒ across the interval, | at the limit.
func monthBar(f api.ForecastView) string {
	top := f.High
	if f.Limit != nil {
		top = max(top, *f.Limit)
	}
	const width = chartWidth + 8 // as wide as a day's line
	bar := []rune(strings.Repeat(" ", width+1))
	spent, low, high := cells(f.Spent, top, width), cells(f.Low, top, width), cells(f.High, top, width)
	for i := range high {
		switch {
		case i < spent:
			bar[i] = '█'
		case i < low:
			bar[i] = '░'
		default:
			bar[i] = '▒'
		}
	}
	if f.Limit != nil {
		bar[cells(*f.Limit, top, width)] = '|'
	}
	return strings.TrimRight(string(bar), " ")
}

// cells is how many of width cells v takes when top takes them all,
// rounded.
func cells(v, top money.Micros, width int) int {
	if top <= 0 || v <= 0 {
		return 0
	}
	return int((int64(v)*int64(width) + int64(top)/2) / int64(top))
}

// printRecommendations lists recs, each with its saving and its message
// wrapped.
func printRecommendations(w io.Writer, recs api.RecommendationsView) {
	if len(recs.Recommendations) == 0 {
		fmt.Fprintln(w, "\nno recommendations: nothing cheaper was found for the last 30 days' jobs")
		return
	}
	fmt.Fprintln(w, "\nrecommendations (saving a month):")
	for _, r := range recs.Recommendations {
		fmt.Fprintf(w, "\n  %-10s %s\n", r.Savings.Cents(), r.Kind)
		for _, line := range wrap(r.Message, 76) {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

// wrap splits s into lines of at most width characters at spaces (a
// longer word has a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
