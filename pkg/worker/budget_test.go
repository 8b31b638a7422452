package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// withBudget gives project dev a monthly limit, so that the router reserves
// each attempt's estimate and the worker must settle it.
func (e *env) withBudget(t *testing.T, limit string) {
	t.Helper()
	l := money.MustParse(limit)
	require.NoError(t, e.st.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "dev", MonthlyLimit: &l})
	}))
}

// books returns dev's period of this month and its ledger, once nothing is
// reserved any more (the job is settled).
func (e *env) books(t *testing.T) (store.Period, []store.LedgerEntry) {
	t.Helper()
	period := budget.PeriodOf(e.clock.Now())
	var p store.Period
	require.Eventually(t, func() bool {
		var err error
		p, _, err = budget.ReadPeriod(ctx, e.st, "dev", period)
		require.NoError(t, err)
		return p.Reserved == 0
	}, 5*time.Second, time.Millisecond, "every reservation settled or released")
	ledger, err := e.st.ListLedger(ctx, store.LedgerQuery{ProjectID: "dev"})
	require.NoError(t, err)
	return p, ledger
}

func costs(ledger []store.LedgerEntry) map[int]money.Micros {
	out := map[int]money.Micros{}
	for _, l := range ledger {
		out[l.Attempt] = l.Cost
	}
	return out
}

func TestOutcomesSettleTheBudget(t *testing.T) {
	t.Parallel()
	t.Run("success charges the cost and releases the reservation", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.withBudget(t, "10")
		e.pipeline(t)
		j := e.ingest(t, ctx, request(t, "a fox"))
		require.Equal(t, job.StatusSucceeded, e.wait(t, j.ID, terminal).Status)
		p, ledger := e.books(t)
		require.Equal(t, money.MustParse("0.5"), p.Spent)
		require.Equal(t, map[int]money.Micros{1: money.MustParse("0.5")}, costs(ledger))
	})
	t.Run("failover charges only the successful attempt", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.withBudget(t, "10")
		e.fakes["alpha"].setDefault(script{submitErr: errclass.New(errclass.Retryable, "503")})
		e.pipeline(t)
		j := e.ingest(t, ctx, request(t, "a fox"))
		require.Equal(t, "beta", e.wait(t, j.ID, terminal).Backend)
		p, ledger := e.books(t)
		require.Equal(t, money.MustParse("0.6"), p.Spent)
		require.Equal(t, map[int]money.Micros{1: 0, 2: money.MustParse("0.6")}, costs(ledger))
	})
	t.Run("cancel charges what the provider bills", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.withBudget(t, "10")
		e.fakes["alpha"].setDefault(script{hold: make(chan struct{}), cancelBilled: true})
		e.pipeline(t)
		j := e.ingest(t, ctx, request(t, "a fox"))
		e.wait(t, j.ID, func(j *job.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Handle != "" })
		e.cancel(t, j.ID)
		e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Status == job.AttemptCanceled })
		p, ledger := e.books(t)
		require.Equal(t, money.MustParse("0.5"), p.Spent)
		require.Equal(t, map[int]money.Micros{1: money.MustParse("0.5")}, costs(ledger))
	})
}
