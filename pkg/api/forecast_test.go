package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// seedSteadySpend writes a project's ledger: $2 a day at noon from Oct 26
// to Nov 24, and $1 on Nov 25 (the test clock's day) before noon; each a
// premium 8-second video on veo.
func (e *env) seedSteadySpend(project string) {
	e.t.Helper()
	shape := store.Shape{Tier: job.TierPremium, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 8}
	var entries []store.LedgerEntry
	add := func(at time.Time, cost string) {
		id := fmt.Sprintf("%s-%d", project, at.Unix())
		entries = append(entries, store.LedgerEntry{ID: store.LedgerID(id, 1), JobID: id, Attempt: 1, ProjectID: project,
			Backend: "veo", Shape: shape, Period: budget.PeriodOf(at), Status: job.AttemptSucceeded, Cost: usd(cost), At: at, Final: true})
	}
	for d := time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC); d.Before(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)); d = d.Add(24 * time.Hour) {
		add(d, "2")
	}
	add(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), "1")
	require.NoError(e.t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		for _, en := range entries {
			if err := tx.CreateLedger(en); err != nil {
				return err
			}
		}
		return nil
	}))
}

// at freezes the clock at t.
func (c *clock) at(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen, c.now = true, t
}

// steadySetup is setup with the clock at Nov 25, noon, and project
// alpha's steady spend (seedSteadySpend).
func steadySetup(t *testing.T, opts ...func(*api.Config)) *env {
	t.Helper()
	e := setup(t, opts...)
	e.clock.at(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	e.seedSteadySpend(projectA)
	return e
}

func (e *env) setLimit(project, limit string) {
	e.t.Helper()
	require.NoError(e.t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		l := usd(limit)
		return tx.PutBudget(store.Budget{ProjectID: project, MonthlyLimit: &l})
	}))
}

// daily is the "daily" list of a steady $2 a day in November seen on the
// 25th at noon: the 24 days before spent, the rest expected.
func daily() string {
	var days []string
	for d := 1; d <= 30; d++ {
		days = append(days, fmt.Sprintf(`{"day":"2026-11-%02d","cost_usd":2,"forecast":%t}`, d, d >= 25))
	}
	return "[" + strings.Join(days, ",") + "]"
}

// GET /v1/forecast, as DESIGN shows it: $49 spent by Nov 25 at noon at a
// steady $2 a day ends November at $60, with no doubt; within a $100
// limit, no exhaustion; a $55 limit runs out on the 28th at noon.
func TestForecastRoute(t *testing.T) {
	t.Parallel()
	e := steadySetup(t)
	e.setLimit(projectA, "100")
	r := e.do(http.MethodGet, "/v1/forecast", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"period":"2026-11","spent_usd":49,"projected_usd":60,"low_usd":60,"high_usd":60,"limit_usd":100,
		"exhaustion_at":null,"history_days":28,"daily":`+daily()+`}`, string(r.body))

	e.setLimit(projectA, "55")
	r = e.do(http.MethodGet, "/v1/forecast", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.ForecastView](t, r)
	require.NotNil(t, v.ExhaustionAt)
	assert.Equal(t, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), *v.ExhaustionAt)
	assert.Equal(t, usd("55"), *v.Limit)
}

// A project without any limit shows limit_usd and exhaustion_at null
// (the keys present); the default limit of projects without a budget is
// theirs; each key sees its own project only; no key is a 401.
func TestForecastLimitsAndIsolation(t *testing.T) {
	t.Parallel()
	e := steadySetup(t)
	r := e.do(http.MethodGet, "/v1/forecast", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &raw))
	assert.Equal(t, "null", string(raw["limit_usd"]))
	assert.Equal(t, "null", string(raw["exhaustion_at"]))
	assert.Equal(t, "60", string(raw["projected_usd"]))

	r = e.do(http.MethodGet, "/v1/forecast", keyB, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	b := decode[api.ForecastView](t, r)
	assert.Zero(t, b.Spent, "beta spent nothing: alpha's spend is not its")
	assert.Zero(t, b.Projected)
	assert.Len(t, b.Daily, 30)

	d := steadySetup(t, func(c *api.Config) { c.BudgetDefaults = budget.Defaults{MonthlyLimit: usd("50")} })
	r = d.do(http.MethodGet, "/v1/forecast", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.ForecastView](t, r)
	assert.Equal(t, usd("50"), *v.Limit, "the default limit")
	require.NotNil(t, v.ExhaustionAt, "$60 projected past $50")

	for _, path := range []string{"/v1/forecast", "/v1/recommendations"} {
		requireError(t, e.do(http.MethodGet, path, "", ""), http.StatusUnauthorized, "unauthenticated", "")
		requireError(t, e.do(http.MethodGet, path, "not-a-key-0123456789", ""), http.StatusUnauthorized, "unauthenticated", "")
	}
}

// GET /v1/recommendations: premium videos that standard makes for less
// are a tier recommendation with money; a project with no usage has an
// empty list.
func TestRecommendationsRoute(t *testing.T) {
	t.Parallel()
	e := steadySetup(t)
	r := e.do(http.MethodGet, "/v1/recommendations", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var raw struct {
		Recommendations []map[string]json.RawMessage `json:"recommendations"`
	}
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.NotEmpty(t, raw.Recommendations)
	for _, rec := range raw.Recommendations {
		assert.ElementsMatch(t, []string{"kind", "message", "savings_usd_month"}, keys(rec))
	}
	v := decode[api.RecommendationsView](t, r)
	assert.Equal(t, "tier", string(v.Recommendations[0].Kind))
	assert.Positive(t, v.Recommendations[0].Savings)
	assert.Contains(t, v.Recommendations[0].Message, "premium video was 100% of the spend over the last 30 days")

	r = e.do(http.MethodGet, "/v1/recommendations", keyB, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"recommendations":[]}`, string(r.body))
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
