package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/cli"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type cliEnv struct {
	st  *memstore.Store
	url string
}

// setup serves the API over a memstore with key dev-key of project dev;
// opts may change its Config.
func setup(t *testing.T, opts ...func(*api.Config)) *cliEnv {
	t.Helper()
	st := memstore.New()
	require.NoError(t, api.SeedAPIKey(context.Background(), st, "dev-key", "dev", now))
	q := memqueue.New()
	require.NoError(t, queue.Provision(context.Background(), q, queue.Topology(catalog.Default().Names())))
	cfg := api.Config{
		Store: st, Queue: q, Catalog: catalog.Default(), AdminKey: "dev-admin",
		Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := api.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &cliEnv{st: st, url: srv.URL}
}

func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "AIPROD_API" {
			return e.url
		}
		return ""
	}
	code = cli.Main(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: getenv})
	return code, out.String(), errOut.String()
}

// settledJob stores a succeeded job of dev with its ledger entry and
// period, as the router and worker leave them.
func (e *cliEnv) settledJob(t *testing.T, backend, user, cost string) {
	t.Helper()
	req := job.Request{Prompt: "p", DurationSeconds: 5, UserID: user}
	req.ApplyDefaults()
	j := job.New("", "dev", req, now)
	c := money.MustParse(cost)
	j.Attempts = []job.Attempt{{Number: 1, Backend: backend, Status: job.AttemptSucceeded, EstimatedCost: c, Reserved: c, Cost: c, StartedAt: now}}
	j.Status, j.Cost = job.StatusSucceeded, c
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		p, err := tx.GetPeriod("dev", "2026-11")
		if err != nil {
			return err
		}
		if err := tx.CreateJob(j); err != nil {
			return err
		}
		p.Spent += c
		if err := tx.PutPeriod(p); err != nil {
			return err
		}
		return tx.CreateLedger(store.LedgerEntry{ID: store.LedgerID(j.ID, 1), JobID: j.ID, Attempt: 1, ProjectID: "dev",
			UserID: user, Backend: backend, Period: "2026-11", Status: job.AttemptSucceeded, Estimate: c, Reserved: c,
			Cost: c, Released: c, Final: true, At: now})
	}))
}

func TestUsageTable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.settledJob(t, "runway", "alice", "0.25")
	e.settledJob(t, "runway", "", "0.5")
	e.settledJob(t, "luma", "alice", "1")

	code, out, errOut := e.run("usage")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "usage from 2026-11-01 00:00 to 2026-12-01 00:00 by backend")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, []string{"BACKEND", "JOBS", "SUCCEEDED", "FAILED", "SUCCESS_RATE", "COST_USD"}, strings.Fields(lines[2]))
	require.Equal(t, []string{"luma", "1", "1", "0", "100%", "1"}, strings.Fields(lines[3]))
	require.Equal(t, []string{"runway", "2", "2", "0", "100%", "0.75"}, strings.Fields(lines[4]))
	require.Equal(t, []string{"TOTAL", "3", "3", "0", "100%", "1.75"}, strings.Fields(lines[5]))

	code, out, _ = e.run("usage", "--group-by", "user")
	require.Equal(t, 0, code)
	require.Contains(t, out, "(none)")
	code, _, errOut = e.run("usage", "--group-by", "model")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "group_by")
}

func TestBudgetCommands(t *testing.T) {
	t.Parallel()
	e := setup(t)
	code, out, errOut := e.run("budget", "set", "--project", "dev", "--monthly-limit-usd", "50", "--user", "alice=10")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "project dev, 2026-11")
	e.settledJob(t, "runway", "", "12.5")
	code, out, _ = e.run("budget")
	require.Equal(t, 0, code)
	require.Equal(t, []string{"project", "50", "12.5", "0", "37.5"}, strings.Fields(strings.Split(out, "\n")[3]))
	require.Contains(t, out, "user alice")

	code, _, errOut = e.run("budget", "set", "--project", "dev")
	require.Equal(t, 2, code, "the limit is required")
	require.Contains(t, errOut, "--monthly-limit-usd is required")
	code, _, errOut = e.run("budget", "set", "--project", "dev", "--monthly-limit-usd", "5", "--admin-key", "wrong")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "401")
	code, _, _ = e.run("budget", "set", "--project", "dev", "--monthly-limit-usd", "none")
	require.Equal(t, 0, code)
	b, err := e.st.GetBudget(context.Background(), "dev")
	require.NoError(t, err)
	require.Nil(t, b.MonthlyLimit)
}

// TestBudgetShowsTheDefault: aiprod budget says when the limit is the
// services' default rather than the project's own.
func TestBudgetShowsTheDefault(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) { c.BudgetDefaults = budget.Defaults{MonthlyLimit: 100 * money.Dollar} })
	code, out, errOut := e.run("budget")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, []string{"project", "100", "0", "0", "100"}, strings.Fields(strings.Split(out, "\n")[3]))
	require.Contains(t, out, "its limit is the default of the services")
	code, _, errOut = e.run("budget", "set", "--project", "dev", "--monthly-limit-usd", "50")
	require.Equal(t, 0, code, errOut)
	_, out, _ = e.run("budget")
	require.NotContains(t, out, "default")
}

func TestUsageReconcile(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.settledJob(t, "runway", "", "0.25")
	code, out, errOut := e.run("usage", "reconcile", "--project", "dev")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "no differences")

	// Spent that no ledger entry explains.
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutPeriod(store.Period{ProjectID: "dev", ID: "2026-11", Spent: money.MustParse("1")})
	}))
	code, out, errOut = e.run("usage", "reconcile", "--project", "dev", "--period", "2026-11")
	require.Equal(t, 1, code)
	require.Contains(t, out, budget.DiffSpent)
	require.Contains(t, errOut, "1 difference(s) in 2026-11 of project dev")
}
