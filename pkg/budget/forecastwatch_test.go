package budget_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// forecastBench is a store with a steady $5 a day of project p settled at
// noon from Nov 15 to the day before now, Dec 15, 10:00, and a queue for
// the events.
type forecastBench struct {
	st  *memstore.Store
	q   *memqueue.Queue
	now time.Time
}

func forecastSetup(t *testing.T, limit string) *forecastBench {
	t.Helper()
	b := &forecastBench{st: memstore.New(), q: memqueue.New(), now: time.Date(2026, 12, 15, 10, 0, 0, 0, time.UTC)}
	require.NoError(t, b.q.EnsureTopic(context.Background(), queue.TopicEvents))
	if limit != "" {
		require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error {
			return tx.PutBudget(store.Budget{ProjectID: "p", MonthlyLimit: lim(limit)})
		}))
	}
	for d := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC); d.Before(b.now); d = d.Add(24 * time.Hour) {
		b.settle(t, d, "5")
	}
	return b
}

func (b *forecastBench) settle(t *testing.T, at time.Time, cost string) {
	t.Helper()
	e := entry(fmt.Sprintf("j-%d", at.Unix()), 1, "runway", "", job.AttemptSucceeded, cost, at)
	e.Shape = store.Shape{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5}
	require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error { return tx.CreateLedger(e) }))
}

func (b *forecastBench) events(t *testing.T) []budget.ForecastEvent {
	t.Helper()
	var out []budget.ForecastEvent
	for _, m := range b.q.Published(queue.TopicEvents) {
		require.Equal(t, budget.EventTypeForecast, m.Attributes[queue.AttrEventType])
		require.Equal(t, "p", m.Attributes[queue.AttrProjectID])
		var ev budget.ForecastEvent
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		out = append(out, ev)
	}
	return out
}

func (b *forecastBench) roller(t *testing.T, defaults budget.Defaults) *budget.Roller {
	t.Helper()
	r, err := budget.NewRoller(budget.RollerConfig{Store: b.st, Events: b.q, Now: func() time.Time { return b.now },
		Lag: time.Minute, BudgetDefaults: defaults, ForecastEvery: time.Hour})
	require.NoError(t, err)
	return r
}

// The usage roller projects the month of each project it rolled up: $70
// spent by Dec 15 at $5 a day ends the month at $152.92, past the $100
// limit, which runs out on Dec 21 at 10:00. That is announced once: later
// rounds, and a later crossing, publish nothing more this period.
func TestForecastPastTheLimitIsAnnouncedOnce(t *testing.T) {
	t.Parallel()
	b := forecastSetup(t, "100")
	r := b.roller(t, budget.Defaults{})
	_, err := r.RollUp(context.Background())
	require.NoError(t, err)
	exhausted := time.Date(2026, 12, 21, 10, 0, 0, 0, time.UTC)
	require.Equal(t, []budget.ForecastEvent{{Type: "budget.forecast", ProjectID: "p", Period: "2026-12",
		Spent: usd("70"), Projected: usd("152.916667"), Low: usd("152.916667"), High: usd("152.916667"), Limit: usd("100"),
		ExhaustionAt: &exhausted}}, b.events(t))
	p, err := b.st.GetPeriod(context.Background(), "p", "2026-12")
	require.NoError(t, err)
	require.True(t, p.ForecastNotified, "recorded on the period")

	for range 3 {
		b.now = b.now.Add(2 * time.Hour)
		b.settle(t, b.now.Add(-time.Hour), "50")
		res, err := r.RollUp(context.Background())
		require.NoError(t, err)
		require.Positive(t, res.Entries)
	}
	require.Len(t, b.events(t), 1, "once per period")
}

// A projection within the limit announces nothing; a project without a
// limit is never projected against one; the default limit of projects
// without a budget counts as theirs.
func TestForecastWithinTheLimitOrWithoutOne(t *testing.T) {
	t.Parallel()
	within := forecastSetup(t, "160")
	_, err := within.roller(t, budget.Defaults{}).RollUp(context.Background())
	require.NoError(t, err)
	assert.Empty(t, within.events(t), "$152.92 projected under $160")

	unlimited := forecastSetup(t, "")
	_, err = unlimited.roller(t, budget.Defaults{}).RollUp(context.Background())
	require.NoError(t, err)
	assert.Empty(t, unlimited.events(t), "no limit")

	defaulted := forecastSetup(t, "")
	_, err = defaulted.roller(t, budget.Defaults{MonthlyLimit: usd("100")}).RollUp(context.Background())
	require.NoError(t, err)
	evs := defaulted.events(t)
	require.Len(t, evs, 1, "the default limit")
	assert.Equal(t, usd("100"), evs[0].Limit)
}

// A project's first day is a pace, not a forecast: $60 in its first hour
// projects thousands, but nothing is announced until a whole day of spend
// stands behind the projection.
func TestForecastWaitsForAWholeDay(t *testing.T) {
	t.Parallel()
	b := &forecastBench{st: memstore.New(), q: memqueue.New(), now: time.Date(2026, 12, 15, 1, 0, 0, 0, time.UTC)}
	require.NoError(t, b.q.EnsureTopic(context.Background(), queue.TopicEvents))
	require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "p", MonthlyLimit: lim("100")})
	}))
	b.settle(t, b.now.Add(-30*time.Minute), "60")
	r := b.roller(t, budget.Defaults{})
	_, err := r.RollUp(context.Background())
	require.NoError(t, err)
	spend, err := budget.ReadSpend(context.Background(), b.st, "p", b.now)
	require.NoError(t, err)
	p := spend.Forecast(lim("100"))
	require.Zero(t, p.HistoryDays)
	require.Greater(t, p.Projected, usd("10000"), "$60 an hour, for 17 days")
	assert.Empty(t, b.events(t), "not announced on an hour's pace")

	b.now = b.now.Add(24 * time.Hour) // the next day: one whole day of $60
	b.settle(t, b.now.Add(-30*time.Minute), "1")
	_, err = b.roller(t, budget.Defaults{}).RollUp(context.Background())
	require.NoError(t, err)
	require.Len(t, b.events(t), 1, "$60 a day for 16 days passes $100")
}

// A busy project is projected once per ForecastEvery, not every round:
// spend that pushes the projection past the limit within the hour is
// seen at the first round after it.
func TestForecastIsCheckedOncePerInterval(t *testing.T) {
	t.Parallel()
	b := forecastSetup(t, "200")
	r := b.roller(t, budget.Defaults{})
	_, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.Empty(t, b.events(t))
	b.now = b.now.Add(10 * time.Minute)
	b.settle(t, b.now.Add(-5*time.Minute), "60") // $130 today: projected far past $200
	_, err = r.RollUp(context.Background())
	require.NoError(t, err)
	require.Empty(t, b.events(t), "checked ten minutes ago")
	b.now = b.now.Add(time.Hour)
	b.settle(t, b.now.Add(-5*time.Minute), "1")
	_, err = r.RollUp(context.Background())
	require.NoError(t, err)
	require.Len(t, b.events(t), 1, "an hour later")
}

// Checkers racing (one roller per router) announce the crossing once.
func TestForecastCheckersRacingAnnounceOnce(t *testing.T) {
	t.Parallel()
	b := forecastSetup(t, "100")
	var wg sync.WaitGroup
	var mu sync.Mutex
	published := 0
	for range 4 {
		wg.Go(func() {
			ev, err := budget.CheckForecast(context.Background(), b.st, b.q, budget.Defaults{}, "p", b.now)
			assert.NoError(t, err)
			if ev != nil {
				mu.Lock()
				published++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, published)
	require.Len(t, b.events(t), 1)
}

// A round projects at most 20 projects: the others are projected in a
// later round in which they spend again.
func TestForecastsPerRoundAreBounded(t *testing.T) {
	t.Parallel()
	b := &forecastBench{st: memstore.New(), q: memqueue.New(), now: time.Date(2026, 12, 15, 10, 0, 0, 0, time.UTC)}
	require.NoError(t, b.q.EnsureTopic(context.Background(), queue.TopicEvents))
	spend := func(at time.Time) {
		require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error {
			for i := range 25 {
				p := fmt.Sprintf("p%02d", i)
				if err := tx.PutBudget(store.Budget{ProjectID: p, MonthlyLimit: lim("10")}); err != nil {
					return err
				}
				e := entry(fmt.Sprintf("%s-%d", p, at.Unix()), 1, "runway", "", job.AttemptSucceeded, "5", at)
				e.ProjectID = p
				if err := tx.CreateLedger(e); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	announced := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range b.q.Published(queue.TopicEvents) {
			out[m.Attributes[queue.AttrProjectID]] = true
		}
		return out
	}
	r := b.roller(t, budget.Defaults{})
	spend(b.now.Add(-20 * time.Hour))
	_, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.Len(t, announced(), 20, "$5 a day against $10: all 25 pass, 20 are projected")
	b.now = b.now.Add(2 * time.Minute)
	spend(b.now.Add(-90 * time.Second))
	_, err = r.RollUp(context.Background())
	require.NoError(t, err)
	require.Len(t, announced(), 25, "the other 5 at their next spend")
	require.Len(t, b.q.Published(queue.TopicEvents), 25, "each once")
}
