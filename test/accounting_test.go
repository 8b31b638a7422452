package test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/sim"
)

// TestAccountingAddsUpAfterFailovers: with a budget set and backends failing
// half of their calls, jobs fail over between backends; afterwards the
// ledger total, the sum of the jobs' costs, the budget's spent and the usage
// total are one number, nothing stays reserved, and reconcile reports no
// difference.
func TestAccountingAddsUpAfterFailovers(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	ctx := context.Background()
	admin := client.New(st.APIURL, devstack.AdminKeyDefault)
	require.NoError(t, admin.Do(ctx, http.MethodPut, "/v1/admin/projects/dev/budget", []byte(`{"monthly_limit_usd": 1000}`), nil))
	for _, s := range st.Sims {
		s.Core.SetFaults(sim.Faults{ErrorRate: 0.3})
	}

	const n = 24
	jobs := make([]*client.Job, n)
	for i := range n {
		j, err := c.Submit(ctx, job.Request{Prompt: fmt.Sprintf("accounting %d", i), DurationSeconds: 5}, client.SubmitOptions{})
		require.NoError(t, err)
		jobs[i] = j
	}
	var sum money.Micros
	failovers := 0
	for i, j := range jobs {
		jobs[i] = waitTerminal(t, c, j.ID)
		var attempts money.Micros
		for _, a := range jobs[i].Attempts {
			attempts += a.Cost
		}
		require.Equal(t, attempts, jobs[i].Cost, "job cost is the sum of its attempts")
		sum += jobs[i].Cost
		if len(jobs[i].Attempts) > 1 {
			failovers++
		}
	}
	t.Logf("%d jobs, %d with failovers, total %s", n, failovers, sum)
	require.Positive(t, int64(sum))

	var b struct {
		Spent    money.Micros `json:"spent_usd"`
		Reserved money.Micros `json:"reserved_usd"`
	}
	require.NoError(t, c.Do(ctx, http.MethodGet, "/v1/budget", nil, &b))
	require.Equal(t, sum, b.Spent, "budget spent = sum of job costs")
	require.Zero(t, b.Reserved, "every reservation settled or released")

	var u struct {
		Total money.Micros `json:"total_cost_usd"`
	}
	require.NoError(t, c.Do(ctx, http.MethodGet, "/v1/usage?group_by=backend", nil, &u))
	require.Equal(t, sum, u.Total, "usage total = sum of job costs")

	var r budget.Report
	require.NoError(t, admin.Do(ctx, http.MethodGet, "/v1/admin/reconcile?project=dev", nil, &r))
	require.Empty(t, r.Differences)
	require.Equal(t, sum, r.LedgerTotal, "ledger total = sum of job costs")
}
