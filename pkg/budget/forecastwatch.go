package budget

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// ForecastEveryDefault is how often, at most, the roller projects one
// project's month (RollerConfig.ForecastEvery).
const ForecastEveryDefault = 15 * time.Minute

// maxForecastsPerRound bounds the projects one round projects (about 33
// reads each, in sequence), so that a round with many projects does not
// hold the roll-ups back: the others are projected in a later round in
// which they spend again.
const maxForecastsPerRound = 20

// CheckForecast projects project's spend for the month of now (ReadSpend,
// Spend.Forecast) and, the first time in the period that the projection
// passes the project's monthly limit (its own, or defaults'), records it
// on the period's head (store.Period.ForecastNotified, in a transaction
// that reads it first, so that racing checkers announce it once) and
// publishes a budget.forecast event (ForecastEvent) to aiprod-events; a
// projection standing on no whole day of spend (a project's first day: a
// pace, not a forecast) announces nothing. It
// returns the event it published, nil when none. A project without a
// limit costs one read, one already announced this period two.
//
// Delivery is at most once, as for thresholds: the announcement is
// recorded before the publish, and a publish that fails is returned, not
// retried.
func CheckForecast(ctx context.Context, st store.Store, pub queue.Publisher, defaults Defaults, project string, now time.Time) (*ForecastEvent, error) {
	b, err := st.GetBudget(ctx, project)
	if err != nil {
		return nil, err
	}
	b, _ = defaults.Apply(b)
	period := PeriodOf(now)
	if b.MonthlyLimit == nil {
		return nil, nil
	}
	if head, err := st.GetPeriod(ctx, project, period); err != nil || head.ForecastNotified {
		return nil, err
	}
	spend, err := ReadSpend(ctx, st, project, now)
	if err != nil {
		return nil, err
	}
	p := spend.Forecast(b.MonthlyLimit)
	if p.Projected <= *b.MonthlyLimit || p.HistoryDays == 0 {
		return nil, nil // within the limit, or only today's pace (forecast.Projection.HistoryDays)
	}
	first := false
	err = st.RunTx(ctx, func(tx store.Tx) error {
		head, err := tx.GetPeriod(project, period)
		if err != nil || head.ForecastNotified {
			return err
		}
		first = true
		head.ForecastNotified = true
		return tx.PutPeriod(head)
	})
	if err != nil || !first {
		return nil, err
	}
	ev := ForecastEvent{Type: EventTypeForecast, ProjectID: project, Period: period, Spent: p.Spent, Projected: p.Projected,
		Low: p.Low, High: p.High, Limit: *b.MonthlyLimit, ExhaustionAt: p.ExhaustionAt}
	if err := queue.PublishEvent(ctx, telemetry.Traced(pub), EventTypeForecast, project, ev); err != nil {
		return nil, fmt.Errorf("publish the forecast of project %s in %s: %w", project, period, err)
	}
	return &ev, nil
}

// forecastWatch remembers when the roller last projected each project's
// month, so that a busy project is projected once per ForecastEvery, not
// once per round. It forgets projects not seen for that long.
type forecastWatch struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due returns the projects of entries not projected within every of now,
// at most limit of them, and marks them projected at now.
func (w *forecastWatch) due(entries []store.LedgerEntry, now time.Time, every time.Duration, limit int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[string]time.Time{}
	}
	for p, at := range w.last {
		if now.Sub(at) >= every {
			delete(w.last, p)
		}
	}
	var out []string
	for _, e := range entries {
		if len(out) == limit {
			break
		}
		if _, ok := w.last[e.ProjectID]; !ok {
			w.last[e.ProjectID] = now
			out = append(out, e.ProjectID)
		}
	}
	return out
}

// watchForecasts runs CheckForecast for the projects of a round's entries
// that are due (RollerConfig.Events set), logging what fails.
func (r *Roller) watchForecasts(ctx context.Context, entries []store.LedgerEntry) {
	if r.cfg.Events == nil {
		return
	}
	now := r.cfg.Now()
	for _, p := range r.watch.due(entries, now, r.cfg.ForecastEvery, maxForecastsPerRound) {
		ev, err := CheckForecast(ctx, r.cfg.Store, r.cfg.Events, r.cfg.BudgetDefaults, p, now)
		switch {
		case err != nil:
			r.log.WarnContext(ctx, "budget forecast", "project_id", p, "error", err)
		case ev != nil:
			r.log.InfoContext(ctx, "budget forecast passes the limit", "project_id", p, "period", ev.Period,
				"projected_usd", ev.Projected.USD(), "limit_usd", ev.Limit.USD())
		}
	}
}
