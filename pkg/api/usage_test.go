package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// seedLedger writes ledger entries: in alpha, jobs on Nov 24 and 25 and
// one in October; in beta, one job.
func (e *env) seedLedger() {
	e.t.Helper()
	add := func(project, jobID string, attempt int, backend, user string, status job.AttemptStatus, cost string, at time.Time) store.LedgerEntry {
		return store.LedgerEntry{
			ID: store.LedgerID(jobID, attempt), JobID: jobID, Attempt: attempt, ProjectID: project, UserID: user,
			Backend: backend, Period: budget.PeriodOf(at), Status: status, Cost: usd(cost), At: at,
			Final: status == job.AttemptSucceeded, // j1's first attempt failed over
		}
	}
	d24 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	d25 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	oct := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	entries := []store.LedgerEntry{
		add(projectA, "j1", 1, "luma", "alice", job.AttemptFailed, "0", d24),
		add(projectA, "j1", 2, "runway", "alice", job.AttemptSucceeded, "0.25", d24),
		add(projectA, "j2", 1, "runway", "bob", job.AttemptSucceeded, "0.5", d25),
		add(projectA, "j3", 1, "veo", "", job.AttemptSucceeded, "2", oct),
		add(projectB, "j4", 1, "runway", "eve", job.AttemptSucceeded, "9", d25),
	}
	require.NoError(e.t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		for _, en := range entries {
			if err := tx.CreateLedger(en); err != nil {
				return err
			}
		}
		return nil
	}))
}

func TestUsage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.seedLedger()

	// Default: this month (the clock is in November), by backend.
	r := e.do(http.MethodGet, "/v1/usage", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"from":"2026-11-01T00:00:00Z","to":"2026-12-01T00:00:00Z","group_by":"backend","total_cost_usd":0.75,"groups":[
		{"key":"luma","jobs":1,"succeeded":0,"failed":1,"cost_usd":0},
		{"key":"runway","jobs":2,"succeeded":2,"failed":0,"cost_usd":0.75}]}`, string(r.body))

	u := decode[api.Usage](t, e.do(http.MethodGet, "/v1/usage?group_by=user", keyA, ""))
	require.Equal(t, []budget.UsageGroup{
		{Key: "alice", Jobs: 1, Succeeded: 1, Cost: usd("0.25")},
		{Key: "bob", Jobs: 1, Succeeded: 1, Cost: usd("0.5")},
	}, u.Groups)

	u = decode[api.Usage](t, e.do(http.MethodGet, "/v1/usage?group_by=day&from=2026-10-01&to=2026-11-24", keyA, ""))
	require.Equal(t, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), u.To, "a date as to includes that day")
	require.Equal(t, usd("2.25"), u.TotalCost)
	require.Equal(t, []string{"2026-10-31", "2026-11-24"}, []string{u.Groups[0].Key, u.Groups[1].Key})

	u = decode[api.Usage](t, e.do(http.MethodGet, "/v1/usage?from=2026-11-25T00:00:00Z&to=2026-11-25T09:00:00Z", keyA, ""))
	require.Zero(t, u.TotalCost, "to is exclusive")
	require.Empty(t, u.Groups)
	require.NotNil(t, u.Groups)

	// Project isolation: beta sees only its own.
	u = decode[api.Usage](t, e.do(http.MethodGet, "/v1/usage?group_by=user", keyB, ""))
	require.Equal(t, usd("9"), u.TotalCost)
	require.Len(t, u.Groups, 1)
	require.Equal(t, "eve", u.Groups[0].Key)
}

func TestUsageRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct{ query, field string }{
		{"group_by=model", "group_by"},
		{"from=yesterday", "from"},
		{"to=2026-13-01", "to"},
		{"from=2026-11-10&to=2026-11-01", "to"},
		{"from=2026-11-10T00:00:00Z&to=2026-11-10T00:00:00Z", "to"},
		{"from=2024-01-01&to=2026-01-01", "to"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			requireError(t, e.do(http.MethodGet, "/v1/usage?"+tt.query, keyA, ""), http.StatusBadRequest, "invalid_request", tt.field)
		})
	}
	requireError(t, e.do(http.MethodGet, "/v1/usage", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

// ledgerReads counts the ledger entries the API reads through ListLedger.
type ledgerReads struct {
	store.Store
	entries atomic.Int64
}

func (s *ledgerReads) ListLedger(ctx context.Context, q store.LedgerQuery) ([]store.LedgerEntry, error) {
	out, err := s.Store.ListLedger(ctx, q)
	s.entries.Add(int64(len(out)))
	return out, err
}

// Usage comes from the daily roll-ups, not a scan of the ledger (issue
// 13, finding 5): once the roller has run, whole days read no ledger
// entry, and the answer is the same.
func TestUsageFromDailyRollups(t *testing.T) {
	t.Parallel()
	var counted *ledgerReads
	e := setup(t, func(c *api.Config) {
		counted = &ledgerReads{Store: c.Store}
		c.Store = counted
	})
	e.seedLedger()
	const path = "/v1/usage?group_by=user&from=2026-10-01&to=2026-11-24"
	before := e.do(http.MethodGet, path, keyA, "")
	require.Equal(t, http.StatusOK, before.status, string(before.body))
	require.EqualValues(t, 3, counted.entries.Load(), "before any roll-up, the ledger")

	r, err := budget.NewRoller(budget.RollerConfig{Store: e.st, Now: e.clock.Now})
	require.NoError(t, err)
	res, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.Equal(t, 5, res.Entries)
	counted.entries.Store(0)
	after := e.do(http.MethodGet, path, keyA, "")
	require.Equal(t, http.StatusOK, after.status, string(after.body))
	require.Zero(t, counted.entries.Load(), "whole days come from their roll-ups")
	require.JSONEq(t, string(before.body), string(after.body))
}
