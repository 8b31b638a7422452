package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
)

var budgetNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// budgetSetup is setup with a fixed clock and a budget for project dev.
func budgetSetup(t *testing.T, limit string, users map[string]money.Micros) *env {
	t.Helper()
	e := setup(t, func(c *router.Config) { c.Now = func() time.Time { return budgetNow } })
	b := store.Budget{ProjectID: "dev", UserLimits: users}
	if limit != "" {
		l := money.MustParse(limit)
		b.MonthlyLimit = &l
	}
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error { return tx.PutBudget(b) }))
	return e
}

func (e *env) period(t *testing.T) store.Period {
	t.Helper()
	p, _, err := budget.ReadPeriod(context.Background(), e.st, "dev", "2026-11")
	require.NoError(t, err)
	return p
}

func (e *env) thresholdEvents(t *testing.T) []budget.ThresholdEvent {
	t.Helper()
	var out []budget.ThresholdEvent
	for _, m := range e.q.Published(queue.TopicEvents) {
		if m.Attributes[budget.AttrEventType] != budget.EventTypeThreshold {
			continue
		}
		var ev budget.ThresholdEvent
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		require.Equal(t, "dev", m.Attributes[queue.AttrProjectID])
		out = append(out, ev)
	}
	return out
}

func TestDispatchReservesTheEstimate(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "", nil) // no limit: reservations are still tracked
	j, m := e.ingest(t, request(t, func(r *job.Request) { r.UserID = "alice" }))
	require.Equal(t, "ack", e.deliver(t, m))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Equal(t, money.MustParse("0.5"), got.Attempts[0].Reserved)
	p := e.period(t)
	require.Equal(t, money.MustParse("0.5"), p.Reserved)
	require.Zero(t, p.Spent)
	_, users, err := budget.ReadPeriod(context.Background(), e.st, "dev", "2026-11")
	require.NoError(t, err)
	require.Len(t, users, 1)
	require.Equal(t, money.MustParse("0.5"), users[0].Reserved)
	require.Empty(t, e.thresholdEvents(t), "no limit, no thresholds")
}

// secondRefused routes two jobs of project dev (estimate 0.5 each): the
// first must be dispatched, the second refused with budget_exceeded, and
// only the first sent to a backend. It returns the second job.
func (e *env) secondRefused(t *testing.T) *job.Job {
	t.Helper()
	j1, m1 := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m1))
	require.Equal(t, job.StatusDispatched, e.job(t, j1.ID).Status)
	j2, m2 := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m2))
	got := e.job(t, j2.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBudgetExceeded, got.Error.Code)
	require.Len(t, e.dispatches("alpha"), 1, "only the first job was dispatched")
	return got
}

func TestBudgetExceeded(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "0.75", nil)
	got := e.secondRefused(t)
	require.Equal(t, "monthly budget of project dev exceeded in 2026-11: limit $0.75, spent $0, reserved $0.5, estimate $0.5", got.Error.Message)
	require.Empty(t, got.Attempts)
	require.Equal(t, money.MustParse("0.5"), e.period(t).Reserved)

	var lifecycle []dispatch.Lifecycle
	for _, m := range e.q.Published(queue.TopicEvents) {
		if lc, err := dispatch.DecodeLifecycle(m.Data); err == nil {
			lifecycle = append(lifecycle, lc)
		}
	}
	require.Equal(t, []dispatch.Lifecycle{dispatch.LifecycleOf(got)}, lifecycle)
	events, err := e.st.ListEvents(context.Background(), got.ID)
	require.NoError(t, err)
	require.Equal(t, "failed", events[len(events)-1].Type)
	require.Contains(t, events[len(events)-1].Message, "budget_exceeded: monthly budget")
}

func TestUserBudgetExceeded(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "100", map[string]money.Micros{"alice": money.MustParse("0.5")})
	alice := func(r *job.Request) { r.UserID = "alice" }
	_, m1 := e.ingest(t, request(t, alice))
	require.Equal(t, "ack", e.deliver(t, m1))
	j2, m2 := e.ingest(t, request(t, alice))
	require.Equal(t, "ack", e.deliver(t, m2))
	got := e.job(t, j2.ID)
	require.Equal(t, job.CodeBudgetExceeded, got.Error.Code)
	require.Contains(t, got.Error.Message, `user "alice"`)
	j3, m3 := e.ingest(t, request(t, func(r *job.Request) { r.UserID = "bob" }))
	require.Equal(t, "ack", e.deliver(t, m3))
	require.Equal(t, job.StatusDispatched, e.job(t, j3.ID).Status, "bob is not capped by alice's limit")
}

func TestBudgetRefusalDoesNotTakeTheProbe(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "0.1", nil)
	e.setBackend(t, "alpha", func(b *store.BackendState) {
		b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, OpenedAt: time.Now().Add(-time.Hour)}
	})
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	require.Equal(t, job.CodeBudgetExceeded, e.job(t, j.ID).Error.Code)
	states, err := e.st.ListBackends(context.Background())
	require.NoError(t, err)
	require.Equal(t, circuit.Open, states[0].Breaker.State, "the probe is left for a job that can pay")
	require.True(t, states[0].Breaker.ProbeStartedAt.IsZero())
}

// failover ends the current attempt as the worker does on a retryable
// failure, settling it, and returns the reroute message.
func (e *env) failover(t *testing.T, id string, billed string) queue.Message {
	t.Helper()
	err := e.st.RunTx(context.Background(), func(tx store.Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		bk, err := budget.Prepare(tx, j, budget.Defaults{})
		if err != nil {
			return err
		}
		a := j.CurrentAttempt()
		a.Status, a.Cost = job.AttemptFailed, money.MustParse(billed)
		j.Cost = a.Cost
		j.ExcludedBackends = append(j.ExcludedBackends, a.Backend)
		if err := j.Transition(job.StatusQueued, budgetNow); err != nil {
			return err
		}
		if _, err := bk.Apply(tx, j, budgetNow); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
	require.NoError(t, err)
	j := e.job(t, id)
	return queue.Message{ID: fmt.Sprintf("reroute-%s-%d", id, len(j.Attempts)), Attributes: dispatch.JobAttributes(id, "dev", len(j.Attempts)+1)}
}

func TestFailoverMovesTheReservation(t *testing.T) {
	t.Parallel()
	// alpha $0.50 fails; beta $0.60 must fit: 0.6 = limit, possible only
	// because the 0.5 held is moved rather than added.
	e := budgetSetup(t, "0.6", nil)
	j, m := e.ingest(t, request(t))
	require.Equal(t, "ack", e.deliver(t, m))
	reroute := e.failover(t, j.ID, "0")
	require.Equal(t, money.MustParse("0.5"), e.period(t).Reserved, "held across the failover")

	require.Equal(t, "ack", e.deliver(t, reroute))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Equal(t, "beta", got.Backend)
	require.Equal(t, money.MustParse("0.6"), got.Attempts[1].Reserved)
	require.Equal(t, money.MustParse("0.6"), e.period(t).Reserved)
	rep, err := budget.Check(context.Background(), e.st, "dev", "2026-11")
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
}

func TestRouterFailureReleasesTheHeldReservation(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "10", nil)
	onlyAlpha := func(r *job.Request) { r.Backends = []string{"alpha"} }
	j, m := e.ingest(t, request(t, onlyAlpha))
	require.Equal(t, "ack", e.deliver(t, m))
	reroute := e.failover(t, j.ID, "0.05")
	require.Equal(t, "ack", e.deliver(t, reroute))
	got := e.job(t, j.ID)
	require.Equal(t, job.CodeNoBackend, got.Error.Code, "alpha is excluded now")
	p := e.period(t)
	require.Zero(t, p.Reserved)
	require.Equal(t, money.MustParse("0.05"), p.Spent, "what the failed attempt billed")
	rep, err := budget.Check(context.Background(), e.st, "dev", "2026-11")
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
}

func TestThresholdEvents(t *testing.T) {
	t.Parallel()
	e := budgetSetup(t, "1", nil)
	for range 3 {
		_, m := e.ingest(t, request(t))
		e.deliver(t, m) // 0.5, 1.0, then refused
	}
	evs := e.thresholdEvents(t)
	require.Len(t, evs, 3)
	for i, th := range []int{50, 80, 100} {
		require.Equal(t, budget.ThresholdEvent{Type: "budget_threshold", ProjectID: "dev", Period: "2026-11", Threshold: th,
			Reserved: money.MustParse([]string{"0.5", "1", "1"}[i]), Limit: money.MustParse("1")}, evs[i])
	}
	require.Equal(t, []int{50, 80, 100}, e.period(t).Notified)
}

// TestConcurrentDispatchNeverOvershoots is the acceptance race through the
// router: 200 jobs delivered at once against a budget that fits exactly 40
// estimates.
func TestConcurrentDispatchNeverOvershoots(t *testing.T) {
	t.Parallel()
	const n, fit = 200, 40
	e := budgetSetup(t, money.MustParse("0.5").Times(fit).USD(), nil)
	msgs := make([]queue.Message, n)
	for i := range msgs {
		_, msgs[i] = e.ingest(t, request(t))
	}
	stop := make(chan struct{})
	overshoot := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(overshoot)
				return
			default:
			}
			p, _, err := budget.ReadPeriod(context.Background(), e.st, "dev", "2026-11")
			if err != nil || p.Spent+p.Reserved > money.MustParse("20") {
				overshoot <- fmt.Sprintf("spent %s + reserved %s (%v)", p.Spent, p.Reserved, err)
				close(overshoot)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	verdicts := make([]string, n)
	for i, m := range msgs {
		wg.Go(func() { verdicts[i] = deliverTo(e.r, m) })
	}
	wg.Wait()
	for _, v := range verdicts {
		require.Equal(t, "ack", v)
	}
	close(stop)
	require.Empty(t, <-overshoot)

	page, err := e.st.ListJobs(context.Background(), store.ListJobsQuery{ProjectID: "dev", Limit: store.MaxPageSize})
	require.NoError(t, err)
	counts := map[string]int{}
	for _, j := range page.Jobs {
		code := ""
		if j.Error != nil {
			code = j.Error.Code
		}
		counts[string(j.Status)+" "+code]++
	}
	require.Equal(t, map[string]int{"dispatched ": fit, "failed budget_exceeded": n - fit}, counts)
	require.Len(t, e.dispatches("alpha"), fit)
	require.Equal(t, money.MustParse("20"), e.period(t).Reserved)
}

// A re-spelled or unknown user id does not escape per-user caps when the
// project has a default per-user limit (issue 13, finding 6): "Alice" is
// capped like any user without a limit of their own.
func TestDefaultUserLimitCapsUnknownUsers(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *router.Config) { c.Now = func() time.Time { return budgetNow } })
	limit, alices, others := money.MustParse("100"), money.MustParse("0.5"), money.MustParse("0.5")
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "dev", MonthlyLimit: &limit,
			UserLimits: map[string]money.Micros{"alice": alices}, DefaultUserLimit: &others})
	}))
	respelled := func(r *job.Request) { r.UserID = "Alice" }
	_, m1 := e.ingest(t, request(t, respelled))
	require.Equal(t, "ack", e.deliver(t, m1))
	j2, m2 := e.ingest(t, request(t, respelled))
	require.Equal(t, "ack", e.deliver(t, m2))
	got := e.job(t, j2.ID)
	require.Equal(t, job.StatusFailed, got.Status, "the second job of \"Alice\" passes the default per-user limit")
	require.Equal(t, job.CodeBudgetExceeded, got.Error.Code)
	require.Contains(t, got.Error.Message, `user "Alice"`)
}

// defaultsSetup is setup with a fixed clock and a default monthly limit
// of limit USD, and no budget stored for any project.
func defaultsSetup(t *testing.T, limit string) *env {
	t.Helper()
	return setup(t, func(c *router.Config) {
		c.Now = func() time.Time { return budgetNow }
		c.BudgetDefaults = budget.Defaults{MonthlyLimit: money.MustParse(limit)}
	})
}

// TestDefaultBudgetCapsANewProject is issue 13 finding 1's "a new project
// has no budget": with a default monthly limit (AIPROD_DEFAULT_MONTHLY_LIMIT_USD
// in the services) a project that never had a budget set is refused with
// budget_exceeded once spent + reserved would pass the default.
func TestDefaultBudgetCapsANewProject(t *testing.T) {
	t.Parallel()
	e := defaultsSetup(t, "0.75")
	got := e.secondRefused(t)
	require.Equal(t, "monthly budget of project dev exceeded in 2026-11: limit $0.75 (the default for projects without a budget), "+
		"spent $0, reserved $0.5, estimate $0.5", got.Error.Message)
	var crossed []int
	for _, ev := range e.thresholdEvents(t) {
		crossed = append(crossed, ev.Threshold)
	}
	require.Equal(t, []int{50}, crossed, "thresholds count against the default limit")
}

// TestOwnBudgetOverridesTheDefault: a project's own limit, here above the
// default, is the one that holds.
func TestOwnBudgetOverridesTheDefault(t *testing.T) {
	t.Parallel()
	e := defaultsSetup(t, "0.75")
	l := money.MustParse("10")
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "dev", MonthlyLimit: &l})
	}))
	for range 3 {
		j, m := e.ingest(t, request(t))
		require.Equal(t, "ack", e.deliver(t, m))
		require.Equal(t, job.StatusDispatched, e.job(t, j.ID).Status)
	}
	require.Equal(t, money.MustParse("1.5"), e.period(t).Reserved)
}
