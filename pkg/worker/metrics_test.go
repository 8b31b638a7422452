package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/metrics/metricstest"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/worker"
)

// After a run with a success (alpha), a failover (alpha → beta) and a
// budget refusal, every metric the pipeline records has the expected value
// and labels (issue 11).
func TestPipelineMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec, read := metricstest.New()
	limit, bobs := money.MustParse("100"), money.MustParse("0.1")
	require.NoError(t, e.st.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "dev", MonthlyLimit: &limit, UserLimits: map[string]money.Micros{"bob": bobs}})
	}))
	e.fakes["alpha"].on("fails over", script{submitErr: errclass.New(errclass.Retryable, "503 from alpha")})
	r, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: e.cat, Logger: e.log, Now: e.clock.Now,
		HealthCacheTTL: -1, Metrics: rec})
	require.NoError(t, err)
	run(t, r)
	run(t, e.newWorker(t, func(c *worker.Config) { c.Metrics = rec }))

	ingest := jobwrite.New(jobwrite.Config{Store: e.st, Now: e.clock.Now, Metrics: rec})
	refusedReq := request(t, "refused")
	refusedReq.UserID = "bob"
	var jobs []*job.Job
	for _, req := range []job.Request{request(t, "succeeds"), request(t, "fails over"), refusedReq} {
		j := job.New("", "dev", req, e.clock.Now())
		j.UserID = req.UserID
		j, _, err := ingest.Create(ctx, j)
		require.NoError(t, err)
		e.publishJob(t, ctx, j)
		jobs = append(jobs, e.wait(t, j.ID, terminal))
	}
	require.Equal(t, job.StatusSucceeded, jobs[0].Status)
	require.Equal(t, "beta", jobs[1].Backend)
	require.Equal(t, job.CodeBudgetExceeded, jobs[2].Error.Code)
	require.Eventually(t, func() bool {
		return e.q.Pending(queue.SubscriptionRouter) == 0 && e.q.Pending(queue.WorkerSubscription("alpha")) == 0 &&
			e.q.Pending(queue.WorkerSubscription("beta")) == 0
	}, 5*time.Second, time.Millisecond, "every message handled")

	value := func(name string, labels ...string) float64 {
		t.Helper()
		v, ok := read.Value(t, name, labels...)
		require.True(t, ok, "%s %v recorded; have %v", name, labels, read.Points(t, name))
		return v
	}
	const p, tier = metrics.LabelProject, metrics.LabelTier
	assert.Equal(t, 3.0, value(metrics.JobsAccepted, p, "dev", tier, "standard"))
	completed := func(backend, status, code string) float64 {
		return value(metrics.JobsCompleted, p, "dev", metrics.LabelBackend, backend, tier, "standard",
			metrics.LabelStatus, status, metrics.LabelErrorCode, code)
	}
	assert.Equal(t, 1.0, completed("alpha", "succeeded", ""))
	assert.Equal(t, 1.0, completed("beta", "succeeded", ""))
	assert.Equal(t, 1.0, completed("", "failed", job.CodeBudgetExceeded))
	assert.Equal(t, 1.0, value(metrics.JobDuration, metrics.LabelBackend, "beta", tier, "standard", metrics.LabelStatus, "succeeded"), "one observation")

	assert.InDelta(t, 0.5, value(metrics.Cost, p, "dev", metrics.LabelBackend, "alpha"), 1e-9)
	assert.InDelta(t, 0.6, value(metrics.Cost, p, "dev", metrics.LabelBackend, "beta"), 1e-9)
	// Settlements stay within their shard: the usage roller sets the
	// gauges from the whole period.
	roller, err := budget.NewRoller(budget.RollerConfig{Store: e.st, Metrics: rec, Now: func() time.Time { return e.clock.Now().Add(time.Hour) }})
	require.NoError(t, err)
	_, err = roller.RollUp(ctx)
	require.NoError(t, err)
	assert.InDelta(t, 1.1, value(metrics.BudgetSpent, p, "dev"), 1e-9)
	assert.InDelta(t, 0.0, value(metrics.BudgetReserved, p, "dev"), 1e-9)
	assert.InDelta(t, 100.0, value(metrics.BudgetLimit, p, "dev"), 1e-9)

	req := func(backend, op, outcome string) float64 {
		return value(metrics.BackendRequests, metrics.LabelBackend, backend, metrics.LabelOperation, op, metrics.LabelOutcome, outcome)
	}
	assert.Equal(t, 1.0, req("alpha", "submit", "ok"))
	assert.Equal(t, 1.0, req("alpha", "submit", "retryable"), "the failed-over submit")
	assert.Equal(t, 1.0, req("beta", "submit", "ok"))
	assert.GreaterOrEqual(t, req("beta", "poll", "ok"), 1.0)
	assert.Equal(t, 1.0, value(metrics.BackendRequestDuration, metrics.LabelBackend, "beta", metrics.LabelOperation, "submit"))
	assert.Equal(t, 1.0, value(metrics.BackendGenerationDuration, metrics.LabelBackend, "beta", metrics.LabelModel, jobs[1].Attempts[1].Model))
	assert.Equal(t, 0.0, value(metrics.BackendCircuitState, metrics.LabelBackend, "alpha"), "one strike: still closed")
	assert.Equal(t, 0.0, value(metrics.BackendInFlight, metrics.LabelBackend, "alpha"), "every generation ended")
	assert.Equal(t, 0.0, value(metrics.BackendInFlight, metrics.LabelBackend, "beta"))

	msgs := func(sub, outcome string) float64 {
		return value(metrics.QueueMessages, metrics.LabelSubscription, sub, metrics.LabelOutcome, outcome)
	}
	assert.Equal(t, 4.0, msgs(queue.SubscriptionRouter, "ack"), "three jobs and one reroute")
	assert.Equal(t, 2.0, msgs(queue.WorkerSubscription("alpha"), "ack"))
	assert.Equal(t, 1.0, msgs(queue.WorkerSubscription("beta"), "ack"))
	for _, pt := range read.Points(t, metrics.QueueMessages) {
		assert.NotEqual(t, "dead_letter", pt.Labels[metrics.LabelOutcome], pt.Labels)
	}
}

// The in-flight gauge counts a generation while a delivery polls it, and
// no longer once the delivery lets go of it however that happens: the
// generation ended, a push step ended (before its first poll, too), or a
// poll panicked.
func TestInFlightGaugeFollowsPolling(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec, read := metricstest.New()
	hold := make(chan struct{})
	e.fakes["alpha"].on("held", script{hold: hold})
	e.fakes["alpha"].on("panics", script{pollPanics: true})
	inFlight := func() float64 {
		v, _ := read.Value(t, metrics.BackendInFlight, metrics.LabelBackend, "alpha")
		return v
	}
	stepped := e.newWorker(t, func(c *worker.Config) { c.Metrics = rec; c.StepPolls = 1 })
	_, msg := e.dispatched(t, "alpha", request(t, "held"))
	require.True(t, stepped.Step(ctx, "alpha", stepMessage(t, msg, 1)).Later)
	assert.Equal(t, 0.0, inFlight(), "a push step that ended")
	spent := e.newWorker(t, func(c *worker.Config) { c.Metrics = rec; c.StepBudget = time.Second; c.PollInterval = time.Minute })
	require.True(t, spent.Step(ctx, "alpha", stepMessage(t, msg, 2)).Later)
	assert.Equal(t, 0.0, inFlight(), "a push step spent before its first poll")
	_, poison := e.dispatched(t, "alpha", request(t, "panics"))
	require.False(t, stepped.Step(ctx, "alpha", stepMessage(t, poison, 1)).Ack)
	assert.Equal(t, 0.0, inFlight(), "a poll that panicked")

	polling := e.newWorker(t, func(c *worker.Config) { c.Metrics = rec })
	done := make(chan worker.StepResult, 1)
	go func() { done <- polling.Step(ctx, "alpha", stepMessage(t, msg, 3)) }()
	require.Eventually(t, func() bool { return inFlight() == 1 }, 5*time.Second, time.Millisecond, "polled meanwhile")
	close(hold)
	require.True(t, (<-done).Ack)
	assert.Equal(t, 0.0, inFlight(), "the generation ended")
}
