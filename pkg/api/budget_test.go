package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

func usd(s string) money.Micros { return money.MustParse(s) }

func TestPutAndGetBudget(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.do(http.MethodPut, "/v1/admin/projects/"+projectA+"/budget", adminKey, `{"monthly_limit_usd": 50, "users": {"alice": 10.5, "bob": null}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"project_id":"alpha","period":"2026-11","limit_usd":50,"limit_source":"project","spent_usd":0,"reserved_usd":0,
		"users":{"alice":{"limit_usd":10.5,"spent_usd":0,"reserved_usd":0}}}`, string(r.body))

	// Money recorded in the period shows, for the project and its users.
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		if err := tx.PutPeriod(store.Period{ProjectID: projectA, ID: "2026-11", Spent: usd("12.5"), Reserved: usd("1.25")}); err != nil {
			return err
		}
		return tx.PutUserPeriod(store.Period{ProjectID: projectA, ID: "2026-11", UserID: "carol", Spent: usd("2")})
	}))
	r = e.do(http.MethodGet, "/v1/budget", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"project_id":"alpha","period":"2026-11","limit_usd":50,"limit_source":"project","spent_usd":12.5,"reserved_usd":1.25,
		"users":{"alice":{"limit_usd":10.5,"spent_usd":0,"reserved_usd":0},"carol":{"limit_usd":null,"spent_usd":2,"reserved_usd":0}}}`, string(r.body))

	// Another month, and another project (which has no budget: null).
	r = e.do(http.MethodGet, "/v1/budget?period=2026-10", keyA, "")
	require.JSONEq(t, `{"project_id":"alpha","period":"2026-10","limit_usd":50,"limit_source":"project","spent_usd":0,"reserved_usd":0,
		"users":{"alice":{"limit_usd":10.5,"spent_usd":0,"reserved_usd":0}}}`, string(r.body))
	r = e.do(http.MethodGet, "/v1/budget", keyB, "")
	require.JSONEq(t, `{"project_id":"beta","period":"2026-11","limit_usd":null,"limit_source":"none","spent_usd":0,"reserved_usd":0}`, string(r.body))

	// null removes the limit; PUT replaces the user limits too.
	r = e.do(http.MethodPut, "/v1/admin/projects/"+projectA+"/budget", adminKey, `{"monthly_limit_usd": null}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.BudgetView](t, r)
	require.Nil(t, v.Limit)
	require.Equal(t, usd("12.5"), v.Spent, "spent money stays")
	require.NotContains(t, v.Users, "alice")
	b, err := e.st.GetBudget(context.Background(), projectA)
	require.NoError(t, err)
	require.Nil(t, b.MonthlyLimit)
	require.Empty(t, b.UserLimits)
}

func TestPutBudgetRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	path := "/v1/admin/projects/" + projectA + "/budget"
	for _, tt := range []struct{ name, body, field string }{
		{"empty object", `{}`, "monthly_limit_usd"},
		{"negative", `{"monthly_limit_usd": -1}`, "monthly_limit_usd"},
		{"seven decimals", `{"monthly_limit_usd": 0.0000001}`, "monthly_limit_usd"},
		{"string", `{"monthly_limit_usd": "50"}`, "monthly_limit_usd"},
		{"bool", `{"monthly_limit_usd": true}`, "monthly_limit_usd"},
		{"unknown field", `{"monthly_limit_usd": 5, "limit": 5}`, "limit"},
		{"bad user limit", `{"monthly_limit_usd": 5, "users": {"alice": -2}}`, "users.alice"},
		{"empty user id", `{"monthly_limit_usd": 5, "users": {"": 2}}`, "users."},
		{"long user id", `{"monthly_limit_usd": 5, "users": {"` + strings.Repeat("u", 129) + `": 2}}`, "users." + strings.Repeat("u", 129)},
		{"users not an object", `{"monthly_limit_usd": 5, "users": 3}`, "users"},
		{"negative default user limit", `{"monthly_limit_usd": 5, "default_user_limit_usd": -1}`, "default_user_limit_usd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireError(t, e.do(http.MethodPut, path, adminKey, tt.body), http.StatusBadRequest, "invalid_request", tt.field)
		})
	}
	requireError(t, e.do(http.MethodPut, path, adminKey, `not json`), http.StatusBadRequest, "invalid_request", "")
	requireError(t, e.do(http.MethodPut, "/v1/admin/projects/Bad_Project/budget", adminKey, `{"monthly_limit_usd": 5}`),
		http.StatusBadRequest, "invalid_request", "project")
	requireError(t, e.do(http.MethodPut, path, keyA, `{"monthly_limit_usd": 5}`), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, "/v1/budget?period=2026-13", keyA, ""), http.StatusBadRequest, "invalid_request", "period")
	requireError(t, e.do(http.MethodGet, "/v1/budget", "", ""), http.StatusUnauthorized, "unauthenticated", "")
	b, err := e.st.GetBudget(context.Background(), projectA)
	require.NoError(t, err)
	require.Nil(t, b.MonthlyLimit, "nothing was stored")
}

// dispatch reserves estimate for job id and dispatches it, as the router
// does.
func (e *env) dispatch(id string, estimate money.Micros) {
	e.t.Helper()
	now := time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC)
	err := e.st.RunTx(context.Background(), func(tx store.Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		bk, err := budget.Prepare(tx, j, budget.Defaults{})
		if err != nil {
			return err
		}
		if err := bk.Reserve(tx, j, estimate, now); err != nil {
			return err
		}
		j.Attempts = append(j.Attempts, job.Attempt{Number: len(j.Attempts) + 1, Backend: "runway", Status: "dispatched",
			EstimatedCost: estimate, Reserved: estimate, StartedAt: now, DurationSeconds: 5})
		if err := j.Transition(job.StatusDispatched, now); err != nil {
			return err
		}
		if _, err := bk.Apply(tx, j, now); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
	require.NoError(e.t, err)
}

func TestCancelReleasesTheReservation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.submit(keyA)
	e.dispatch(j.ID, usd("0.75"))
	require.Equal(t, usd("0.75"), decode[api.BudgetView](t, e.do(http.MethodGet, "/v1/budget", keyA, "")).Reserved)

	r := e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	canceled := decode[job.Job](t, r)
	require.Equal(t, job.AttemptCanceled, canceled.Attempts[0].Status, "the attempt never reached a provider")
	v := decode[api.BudgetView](t, e.do(http.MethodGet, "/v1/budget", keyA, ""))
	require.Zero(t, v.Reserved)
	require.Zero(t, v.Spent)
	entries, err := e.st.ListLedger(context.Background(), store.LedgerQuery{ProjectID: projectA})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, job.AttemptCanceled, entries[0].Status)
	require.Equal(t, usd("0.75"), entries[0].Released)

	rep := decode[budget.Report](t, e.do(http.MethodGet, "/v1/admin/reconcile?project="+projectA, adminKey, ""))
	require.Empty(t, rep.Differences)
	require.Equal(t, 1, rep.LedgerEntries)
}

func TestCancelOfRunningJobLeavesTheReservationToTheWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.submit(keyA)
	e.dispatch(j.ID, usd("0.75"))
	_, err := storetest.UpdateJob(context.Background(), e.st, j.ID, func(j *job.Job) error {
		j.CurrentAttempt().Status = job.AttemptRunning
		return j.Transition(job.StatusRunning, time.Date(2026, 11, 25, 12, 31, 0, 0, time.UTC))
	})
	require.NoError(t, err)
	r := e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, usd("0.75"), decode[api.BudgetView](t, e.do(http.MethodGet, "/v1/budget", keyA, "")).Reserved,
		"held until the worker settles what the provider bills")
	rep := decode[budget.Report](t, e.do(http.MethodGet, "/v1/admin/reconcile?project="+projectA, adminKey, ""))
	require.Empty(t, rep.Differences, "an open reservation, not a difference")
}

func TestReconcileRoute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rep := decode[budget.Report](t, e.do(http.MethodGet, "/v1/admin/reconcile?project="+projectB+"&period=2026-10", adminKey, ""))
	require.Equal(t, "2026-10", rep.Period)
	require.Empty(t, rep.Differences)
	require.NotNil(t, rep.Differences)

	// A period that disagrees with its (empty) ledger.
	require.NoError(t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutPeriod(store.Period{ProjectID: projectB, ID: "2026-11", Spent: usd("1")})
	}))
	rep = decode[budget.Report](t, e.do(http.MethodGet, "/v1/admin/reconcile?project="+projectB, adminKey, ""))
	require.Len(t, rep.Differences, 1)
	require.Equal(t, budget.DiffSpent, rep.Differences[0].Kind)

	requireError(t, e.do(http.MethodGet, "/v1/admin/reconcile", adminKey, ""), http.StatusBadRequest, "invalid_request", "project")
	requireError(t, e.do(http.MethodGet, "/v1/admin/reconcile?project=beta&period=11-2026", adminKey, ""), http.StatusBadRequest, "invalid_request", "period")
	requireError(t, e.do(http.MethodGet, "/v1/admin/reconcile?project=beta", keyB, ""), http.StatusUnauthorized, "unauthenticated", "")
}

func TestPutBudgetDefaultUserLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.do(http.MethodPut, "/v1/admin/projects/"+projectA+"/budget", adminKey,
		`{"monthly_limit_usd": 50, "users": {"alice": 10}, "default_user_limit_usd": 2.5}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.BudgetView](t, r)
	require.NotNil(t, v.DefaultUserLimit)
	require.Equal(t, "2.5", v.DefaultUserLimit.USD())
	b, err := e.st.GetBudget(context.Background(), projectA)
	require.NoError(t, err)
	require.Equal(t, money.MustParse("2.5"), *b.DefaultUserLimit)
}

// TestBudgetShowsTheDefaultLimit: a project without a budget of its own
// shows the services' default limit, marked limit_source "default" (issue
// 13 finding 1: no longer limit_usd null); its own limit, once set, shows
// as "project", and null brings the default back.
func TestBudgetShowsTheDefaultLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) { c.BudgetDefaults = budget.Defaults{MonthlyLimit: usd("100")} })
	r := e.do(http.MethodGet, "/v1/budget", keyB, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"project_id":"beta","period":"2026-11","limit_usd":100,"limit_source":"default","spent_usd":0,"reserved_usd":0}`,
		string(r.body))

	r = e.do(http.MethodPut, "/v1/admin/projects/"+projectB+"/budget", adminKey, `{"monthly_limit_usd": 500}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decode[api.BudgetView](t, r)
	require.Equal(t, usd("500"), *v.Limit)
	require.Equal(t, budget.LimitFromProject, v.LimitSource)

	r = e.do(http.MethodPut, "/v1/admin/projects/"+projectB+"/budget", adminKey, `{"monthly_limit_usd": null}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v = decode[api.BudgetView](t, r)
	require.Equal(t, usd("100"), *v.Limit)
	require.Equal(t, budget.LimitFromDefault, v.LimitSource)
	b, err := e.st.GetBudget(context.Background(), projectB)
	require.NoError(t, err)
	require.Nil(t, b.MonthlyLimit, "the default is applied when read, never stored")
}
