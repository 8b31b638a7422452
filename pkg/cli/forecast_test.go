package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// steadySpend writes $2 a day of premium videos on veo for project dev,
// at noon from Oct 26 to Nov 24, and $1 on the 25th before noon (now).
func (e *cliEnv) steadySpend(t *testing.T) {
	t.Helper()
	shape := store.Shape{Tier: job.TierPremium, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 8}
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		days := map[time.Time]string{now.Add(-3 * time.Hour): "1"}
		for day := time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC); day.Before(now); day = day.Add(24 * time.Hour) {
			days[day] = "2"
		}
		for day, cost := range days {
			id := fmt.Sprintf("j-%d", day.Unix())
			if err := tx.CreateLedger(store.LedgerEntry{ID: store.LedgerID(id, 1), JobID: id, Attempt: 1, ProjectID: "dev",
				Backend: "veo", Shape: shape, Period: budget.PeriodOf(day), Status: job.AttemptSucceeded,
				Cost: money.MustParse(cost), At: day, Final: true}); err != nil {
				return err
			}
		}
		return tx.PutBudget(store.Budget{ProjectID: "dev", MonthlyLimit: ptrUSD("55")})
	}))
}

func ptrUSD(s string) *money.Micros { v := money.MustParse(s); return &v }

// aiprod forecast prints the figures, a bar a day (spent, then expected),
// the month against the limit, and the recommendations with their money.
func TestForecastCommand(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.steadySpend(t)
	code, out, errOut := e.run("forecast")
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{
		"forecast for 2026-11",
		"  spent      $49.00\n",
		"  projected  $60.00  (likely $60.00 to $60.00)\n",
		"  limit      $55.00\n",
		"  runs out   2026-11-28 12:00 UTC\n",
		"  11-24  " + strings.Repeat("█", 40) + " $2.00\n",
		"  11-25  " + strings.Repeat("░", 40) + " $2.00\n",
		"recommendations (saving a month):",
		"tier\n    premium video was 100% of the spend over the last 30 days",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "note:", "28 days of history: a forecast")
	require.Len(t, strings.Split(strings.TrimSpace(out[strings.Index(out, "11-01"):strings.Index(out, "month")]), "\n"), 30,
		"a bar for every day of November")
	month := out[strings.Index(out, "  month  "):]
	month = month[:strings.Index(month, "\n")]
	assert.Equal(t, "  month  "+strings.Repeat("█", 39)+strings.Repeat("░", 5)+"|"+strings.Repeat("░", 3), month,
		"$49 spent, $60 projected, the $55 limit at its place, in 48 cells")
}

// On a project's first day the command says it shows a pace, not a
// forecast.
func TestForecastOnTheFirstDaySaysSo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		at := now.Add(-time.Minute)
		return tx.CreateLedger(store.LedgerEntry{ID: store.LedgerID("j-1", 1), JobID: "j-1", Attempt: 1, ProjectID: "dev",
			Backend: "veo", Period: budget.PeriodOf(at), Status: job.AttemptSucceeded, Cost: money.MustParse("60"), At: at, Final: true})
	}))
	code, out, errOut := e.run("forecast")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "  note: no whole day of spend yet: this is today's pace carried to the month's end, not a\n"+
		"  forecast (it may stop at $60.00).")
	assert.Contains(t, out, "(likely $60.00 to ")
}

// --json prints the two API bodies; --help explains; an API error is an
// exit status 1.
func TestForecastJSONAndHelp(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.steadySpend(t)
	code, out, errOut := e.run("forecast", "--json")
	require.Equal(t, 0, code, errOut)
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	var f api.ForecastView
	require.NoError(t, dec.Decode(&f))
	assert.Equal(t, "2026-11", f.Period)
	assert.Equal(t, money.MustParse("60"), f.Projected)
	assert.Len(t, f.Daily, 30)
	var recs map[string][]map[string]any
	require.NoError(t, dec.Decode(&recs))
	require.NotEmpty(t, recs["recommendations"])
	assert.Equal(t, "tier", recs["recommendations"][0]["kind"])
	assert.False(t, dec.More(), "two documents")

	code, _, errOut = e.run("forecast", "--help")
	require.Equal(t, 0, code)
	assert.Contains(t, errOut, "Usage: aiprod forecast")
	assert.Contains(t, errOut, "--json prints the two API bodies")
	assert.Contains(t, errOut, "recommendations")

	code, _, errOut = e.run("forecast", "--api-key", "wrong-key")
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "401")

	code, _, _ = e.run("forecast", "extra")
	require.Equal(t, 2, code)
}
