package api

import (
	"context"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/forecast"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/recommend"
)

// ForecastView is the body of GET /v1/forecast: the project's spend this
// month, projected to its end (package forecast), with its interval, its
// monthly limit (its own or the default; null: none), when that runs out
// (null: not this month, or no limit) and every day of the month, the
// past ones spent and today and after expected (Forecast).
type ForecastView struct {
	Period       string        `json:"period"`
	Spent        money.Micros  `json:"spent_usd"`
	Projected    money.Micros  `json:"projected_usd"`
	Low          money.Micros  `json:"low_usd"`
	High         money.Micros  `json:"high_usd"`
	Limit        *money.Micros `json:"limit_usd"`
	ExhaustionAt *time.Time    `json:"exhaustion_at"`
	Daily        []ForecastDay `json:"daily"`
	// HistoryDays is how many whole days of spend the projection stands
	// on (forecast.Projection.HistoryDays); 0: today's pace only.
	HistoryDays int `json:"history_days"`
}

// ForecastDay is one day of a ForecastView.
type ForecastDay struct {
	Day      string       `json:"day"` // "2026-12-01"
	Cost     money.Micros `json:"cost_usd"`
	Forecast bool         `json:"forecast"`
}

// RecommendationsView is the body of GET /v1/recommendations.
type RecommendationsView struct {
	Recommendations []recommend.Recommendation `json:"recommendations"`
}

// outlook reads what both routes need: the project's spend over the last
// 30 days (budget.ReadSpend, from the daily roll-ups), its monthly limit,
// and the month's projection.
func (s *Server) outlook(ctx context.Context, project string) (budget.Spend, forecast.Projection, *money.Micros, error) {
	b, err := s.cfg.Store.GetBudget(ctx, project)
	if err != nil {
		return budget.Spend{}, forecast.Projection{}, nil, unexpected(err, "read budget")
	}
	b, _ = s.cfg.BudgetDefaults.Apply(b)
	spend, err := budget.ReadSpend(ctx, s.cfg.Store, project, s.cfg.Now())
	if err != nil {
		return budget.Spend{}, forecast.Projection{}, nil, unexpected(err, "read usage")
	}
	return spend, spend.Forecast(b.MonthlyLimit), b.MonthlyLimit, nil
}

// getForecast is GET /v1/forecast: the project's spend forecast for the
// current month (see ForecastView).
func (s *Server) getForecast(w http.ResponseWriter, r *http.Request, project string) error {
	_, p, limit, err := s.outlook(r.Context(), project)
	if err != nil {
		return err
	}
	v := ForecastView{Period: p.Period, Spent: p.Spent, Projected: p.Projected, Low: p.Low, High: p.High, Limit: limit,
		ExhaustionAt: p.ExhaustionAt, Daily: make([]ForecastDay, len(p.Daily)), HistoryDays: p.HistoryDays}
	for i, d := range p.Daily {
		v.Daily[i] = ForecastDay{Day: budget.Day(d.Date), Cost: d.Cost, Forecast: d.Forecast}
	}
	s.writeJSON(w, r, http.StatusOK, v)
	return nil
}

// getRecommendations is GET /v1/recommendations: savings the project
// could make, from its last 30 days of usage by backend and job shape,
// the catalog's prices and the month's forecast (package recommend).
func (s *Server) getRecommendations(w http.ResponseWriter, r *http.Request, project string) error {
	spend, p, _, err := s.outlook(r.Context(), project)
	if err != nil {
		return err
	}
	_, groups := spend.Tally.Groups(budget.GroupByBackend)
	byBackend := make(map[string]money.Micros, len(groups))
	for _, g := range groups {
		byBackend[g.Key] = g.Cost
	}
	recs := recommend.For(recommend.Input{Catalog: s.cfg.Catalog, Usage: spend.Tally.Shapes(), Window: spend.Observed(),
		ByBackend: byBackend, Projected: p.Projected})
	s.writeJSON(w, r, http.StatusOK, RecommendationsView{Recommendations: recs})
	return nil
}
