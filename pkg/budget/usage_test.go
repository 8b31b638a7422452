package budget_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

func entry(jobID string, attempt int, backend, user string, status job.AttemptStatus, cost string, at time.Time) store.LedgerEntry {
	return store.LedgerEntry{
		ID: store.LedgerID(jobID, attempt), JobID: jobID, Attempt: attempt, ProjectID: "p", UserID: user,
		Backend: backend, Period: budget.PeriodOf(at), Status: status, Cost: usd(cost), At: at, Final: true,
	}
}

func failedOver(e store.LedgerEntry) store.LedgerEntry {
	e.Final = false
	return e
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	d1 := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	d2 := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	entries := []store.LedgerEntry{
		// j1 fails over from luma to runway across midnight.
		failedOver(entry("j1", 1, "luma", "alice", job.AttemptFailed, "0.1", d1)),
		entry("j1", 2, "runway", "alice", job.AttemptSucceeded, "0.5", d2),
		entry("j2", 1, "runway", "alice", job.AttemptSucceeded, "0.5", d2),
		entry("j3", 1, "runway", "", job.AttemptFailed, "0", d2),
		entry("j4", 1, "luma", "bob", job.AttemptCanceled, "0.05", d1),
	}
	tests := []struct {
		by   budget.GroupBy
		want []budget.UsageGroup
	}{
		{budget.GroupByBackend, []budget.UsageGroup{
			{Key: "luma", Jobs: 2, Succeeded: 0, Failed: 1, Cost: usd("0.15")},
			{Key: "runway", Jobs: 3, Succeeded: 2, Failed: 1, Cost: usd("1")},
		}},
		{budget.GroupByUser, []budget.UsageGroup{
			{Key: "", Jobs: 1, Succeeded: 0, Failed: 1, Cost: 0},
			{Key: "alice", Jobs: 2, Succeeded: 2, Failed: 0, Cost: usd("1.1")},
			{Key: "bob", Jobs: 1, Succeeded: 0, Failed: 0, Cost: usd("0.05")},
		}},
		{budget.GroupByDay, []budget.UsageGroup{
			// j1 ended on the 25th: the 24th has its cost, not the job.
			{Key: "2026-11-24", Jobs: 1, Succeeded: 0, Failed: 0, Cost: usd("0.15")},
			{Key: "2026-11-25", Jobs: 3, Succeeded: 2, Failed: 1, Cost: usd("1")},
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.by), func(t *testing.T) {
			total, groups := budget.Summarize(entries, tt.by)
			require.Equal(t, usd("1.15"), total)
			require.Equal(t, tt.want, groups)
		})
	}
	total, groups := budget.Summarize(nil, budget.GroupByBackend)
	require.Zero(t, total)
	require.Empty(t, groups)
	require.NotNil(t, groups, "an empty list, not null, in JSON")
}

func TestSuccessRate(t *testing.T) {
	t.Parallel()
	require.Equal(t, 97, budget.UsageGroup{Jobs: 40, Succeeded: 39}.SuccessRate())
	require.Equal(t, 0, budget.UsageGroup{}.SuccessRate())
	require.Equal(t, 100, budget.UsageGroup{Jobs: 1, Succeeded: 1}.SuccessRate())
}

func TestParseGroupBy(t *testing.T) {
	t.Parallel()
	g, err := budget.ParseGroupBy("")
	require.NoError(t, err)
	require.Equal(t, budget.GroupByBackend, g)
	for _, s := range []string{"backend", "user", "day"} {
		g, err := budget.ParseGroupBy(s)
		require.NoError(t, err)
		require.Equal(t, budget.GroupBy(s), g)
	}
	_, err = budget.ParseGroupBy("model")
	require.ErrorIs(t, err, errclass.Permanent)
}

func TestReconcileFindsDifferences(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	mk := func(id string, status job.Status, attempts ...job.Attempt) *job.Job {
		j := &job.Job{ID: id, ProjectID: "p", UserID: "alice", Status: status, Attempts: attempts}
		for _, a := range attempts {
			j.Cost += a.Cost
		}
		return j
	}
	att := func(n int, status job.AttemptStatus, reserved, cost string) job.Attempt {
		return job.Attempt{Number: n, Backend: "runway", Status: status, Reserved: usd(reserved), Cost: usd(cost), StartedAt: at}
	}
	ok := mk("ok", job.StatusSucceeded, att(1, job.AttemptSucceeded, "0.5", "0.5"))
	running := mk("running", job.StatusRunning, att(1, job.AttemptRunning, "0.3", "0"))
	missing := mk("missing", job.StatusFailed, att(1, job.AttemptFailed, "0.2", "0.1"))
	wrongCost := mk("wrong-cost", job.StatusSucceeded, att(1, job.AttemptSucceeded, "0.4", "0.4"))
	badTotal := mk("bad-total", job.StatusSucceeded, att(1, job.AttemptSucceeded, "0.1", "0.1"))
	badTotal.Cost = usd("0.2")
	ledger := []store.LedgerEntry{
		entry("ok", 1, "runway", "alice", job.AttemptSucceeded, "0.5", at),
		entry("wrong-cost", 1, "runway", "alice", job.AttemptSucceeded, "0.39", at),
		entry("bad-total", 1, "runway", "alice", job.AttemptSucceeded, "0.1", at),
		entry("ghost", 1, "runway", "alice", job.AttemptSucceeded, "1", at),
	}
	p := store.Period{ProjectID: "p", ID: "2026-11", Spent: usd("1.99"), Reserved: usd("0.5")}
	users := []store.Period{{ProjectID: "p", ID: "2026-11", UserID: "alice", Spent: usd("1.99"), Reserved: usd("0.5")}}
	rep := budget.Reconcile(p, users, ledger, []*job.Job{ok, running, missing, wrongCost, badTotal})

	kinds := func(rep budget.Report) map[string][]string {
		out := map[string][]string{}
		for _, d := range rep.Differences {
			out[d.Kind] = append(out[d.Kind], d.JobID+"/"+d.UserID)
		}
		return out
	}
	// Spent equals the ledger total and reserved what the running job and
	// the job whose entry is missing hold: only the entries are wrong.
	require.Equal(t, map[string][]string{
		budget.DiffMissingLedger: {"missing/"},
		budget.DiffCost:          {"wrong-cost/"},
		budget.DiffJobCost:       {"bad-total/"},
		budget.DiffOrphanLedger:  {"ghost/"},
	}, kinds(rep))
	require.Equal(t, usd("1.99"), rep.LedgerTotal)
	require.Equal(t, usd("1.1"), rep.JobsCost)
	require.Equal(t, usd("0.5"), rep.OpenReservations)

	// Periods that disagree with the ledger and the jobs.
	p.Spent, p.Reserved = usd("2"), usd("0.6")
	users[0].Reserved = 0
	rep = budget.Reconcile(p, users, ledger, []*job.Job{ok, running, missing, wrongCost, badTotal})
	got := kinds(rep)
	require.Equal(t, []string{"/"}, got[budget.DiffSpent])
	require.Equal(t, []string{"/", "/alice"}, got[budget.DiffReserved])
}

// Usage by shape sums each backend's attempts of one job shape over the
// days, whatever the user; entries without a shape (from before shapes
// were recorded) are left out.
func TestTallyShapes(t *testing.T) {
	t.Parallel()
	std := store.Shape{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5}
	prem := std
	prem.Tier = job.TierPremium
	with := func(e store.LedgerEntry, s store.Shape) store.LedgerEntry {
		e.Shape = s
		return e
	}
	d1 := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	d2 := d1.Add(2 * time.Hour)
	tally := budget.NewTally()
	for _, e := range []store.LedgerEntry{
		with(failedOver(entry("j1", 1, "luma", "alice", job.AttemptFailed, "0.1", d1)), std),
		with(entry("j1", 2, "runway", "alice", job.AttemptSucceeded, "0.5", d2), std),
		with(entry("j2", 1, "runway", "bob", job.AttemptSucceeded, "0.5", d1), std),
		with(entry("j3", 1, "runway", "", job.AttemptSucceeded, "2", d2), prem),
		entry("j4", 1, "runway", "", job.AttemptSucceeded, "9", d2),
	} {
		tally.AddEntry(e)
	}
	require.Equal(t, []store.ShapeCell{
		{Backend: "luma", Shape: std, Cost: usd("0.1"), Attempts: 1},
		{Backend: "runway", Shape: std, Cost: usd("1"), Attempts: 2, AttemptsSucceeded: 2},
		{Backend: "runway", Shape: prem, Cost: usd("2"), Attempts: 1, AttemptsSucceeded: 1},
	}, tally.Shapes())
	again := budget.NewTally()
	for _, d := range tally.Days(d2) {
		again.AddDay(d)
	}
	require.Equal(t, tally.Shapes(), again.Shapes(), "the roll-ups of the days add up to the same")
}
