package budget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

var nov = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// books is a project over a memstore with helpers that play the router,
// the worker and the API the way they use JobTx.
type books struct {
	t        *testing.T
	st       *memstore.Store
	project  string
	defaults budget.Defaults // of projects without a limit of their own
}

func setup(t *testing.T, limit *money.Micros, users map[string]money.Micros) *books {
	t.Helper()
	b := &books{t: t, st: memstore.New(), project: "p"}
	require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: b.project, MonthlyLimit: limit, UserLimits: users})
	}))
	return b
}

func (b *books) newJob(user string) *job.Job {
	b.t.Helper()
	req := job.Request{Prompt: "a fox", DurationSeconds: 5, UserID: user}
	req.ApplyDefaults()
	j := job.New("", b.project, req, nov)
	_, created, err := storetest.CreateJob(context.Background(), b.st, j)
	require.NoError(b.t, err)
	require.True(b.t, created)
	return j
}

// change runs fn on job id between Prepare and Apply, as every caller does.
func (b *books) change(id string, now time.Time, fn func(tx store.Tx, bk *budget.JobTx, j *job.Job) error) ([]budget.Crossing, error) {
	var crossings []budget.Crossing
	err := b.st.RunTx(context.Background(), func(tx store.Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		bk, err := budget.Prepare(tx, j, b.defaults)
		if err != nil {
			return err
		}
		if err := fn(tx, bk, j); err != nil {
			return err
		}
		if crossings, err = bk.Apply(tx, j, now); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
	return crossings, err
}

// route reserves estimate and dispatches, or fails with budget_exceeded,
// as the router does. It returns the budget's refusal, if any.
func (b *books) route(id string, estimate string, now time.Time) (refused error, crossings []budget.Crossing) {
	b.t.Helper()
	crossings, err := b.change(id, now, func(tx store.Tx, bk *budget.JobTx, j *job.Job) error {
		refused = nil
		err := bk.Reserve(tx, j, usd(estimate), now)
		if errors.Is(err, errclass.Budget) {
			refused = err
			return j.Fail(job.CodeBudgetExceeded, err.Error(), now)
		}
		if err != nil {
			return err
		}
		j.Attempts = append(j.Attempts, job.Attempt{
			Number: len(j.Attempts) + 1, Backend: "runway", Status: "dispatched",
			EstimatedCost: usd(estimate), Reserved: usd(estimate), StartedAt: now, DurationSeconds: 5,
		})
		return j.Transition(job.StatusDispatched, now)
	})
	require.NoError(b.t, err)
	return refused, crossings
}

// end ends the current attempt as the worker does, with SettleJob: status,
// cost, and the job's next status (queued: failover).
func (b *books) end(id string, attemptStatus job.AttemptStatus, cost string, to job.Status, now time.Time) []budget.Crossing {
	b.t.Helper()
	var crossings []budget.Crossing
	err := b.st.RunTx(context.Background(), func(tx store.Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		before := j.Clone()
		if err := b.endAttempt(j, attemptStatus, cost, to, now); err != nil {
			return err
		}
		if crossings, err = budget.SettleJob(tx, before, j, b.defaults, now); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
	require.NoError(b.t, err)
	return crossings
}

func (b *books) endAttempt(j *job.Job, attemptStatus job.AttemptStatus, cost string, to job.Status, now time.Time) error {
	a := j.CurrentAttempt()
	a.Status, a.Cost, a.EndedAt = attemptStatus, usd(cost), &now
	if a.SubmittedAt == nil {
		sub := a.StartedAt.Add(2 * time.Second)
		a.SubmittedAt = &sub
	}
	if attemptStatus == job.AttemptFailed {
		a.Error = &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "503"}
	}
	var sum money.Micros
	for _, a := range j.Attempts {
		sum += a.Cost
	}
	j.Cost = sum
	switch to {
	case job.StatusFailed:
		return j.Fail(job.CodeBackendFailed, "failed", now)
	case j.Status:
		return nil // already there (a canceled job)
	default:
		return j.Transition(to, now)
	}
}

func (b *books) period(p string) store.Period {
	b.t.Helper()
	got, _, err := budget.ReadPeriod(context.Background(), b.st, b.project, p)
	require.NoError(b.t, err)
	return got
}

func (b *books) user(p, user string) store.Period {
	b.t.Helper()
	_, users, err := budget.ReadPeriod(context.Background(), b.st, b.project, p)
	require.NoError(b.t, err)
	for _, u := range users {
		if u.UserID == user {
			return u
		}
	}
	return store.Period{ProjectID: b.project, ID: p, UserID: user}
}

func (b *books) ledger() []store.LedgerEntry {
	b.t.Helper()
	es, err := b.st.ListLedger(context.Background(), store.LedgerQuery{ProjectID: b.project})
	require.NoError(b.t, err)
	return es
}

func (b *books) job(id string) *job.Job {
	b.t.Helper()
	j, err := b.st.GetJob(context.Background(), id)
	require.NoError(b.t, err)
	return j
}

// reconciles checks that the books of period p balance.
func (b *books) reconciles(p string) budget.Report {
	b.t.Helper()
	rep, err := budget.Check(context.Background(), b.st, b.project, p)
	require.NoError(b.t, err)
	require.Empty(b.t, rep.Differences)
	return rep
}

func requirePeriod(t *testing.T, p store.Period, spent, reserved string) {
	t.Helper()
	require.Equal(t, usd(spent), p.Spent, "spent")
	require.Equal(t, usd(reserved), p.Reserved, "reserved")
}

func TestSuccessSettlesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("1"), nil)
	j := b.newJob("alice")
	refused, crossings := b.route(j.ID, "0.5", nov)
	require.NoError(t, refused)
	require.Len(t, crossings, 1)
	require.Equal(t, budget.Crossing{ProjectID: "p", Period: "2026-11", Threshold: 50, Limit: usd("1"), Reserved: usd("0.5")}, crossings[0])
	requirePeriod(t, b.period("2026-11"), "0", "0.5")
	requirePeriod(t, b.user("2026-11", "alice"), "0", "0.5")
	require.Equal(t, usd("0.5"), b.job(j.ID).Attempts[0].Reserved)

	crossings = b.end(j.ID, job.AttemptSucceeded, "0.48", job.StatusSucceeded, nov.Add(time.Minute))
	require.Empty(t, crossings)
	requirePeriod(t, b.period("2026-11"), "0.48", "0")
	requirePeriod(t, b.user("2026-11", "alice"), "0.48", "0")
	es := b.ledger()
	require.Len(t, es, 1)
	require.Equal(t, store.LedgerEntry{
		ID: store.LedgerID(j.ID, 1), JobID: j.ID, Attempt: 1, ProjectID: "p", UserID: "alice", Backend: "runway",
		Shape:  store.Shape{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5},
		Period: "2026-11", Seconds: 5, Status: job.AttemptSucceeded, Estimate: usd("0.5"), Reserved: usd("0.5"),
		Cost: usd("0.48"), Released: usd("0.5"), Final: true, At: nov.Add(time.Minute),
		Generation: 58 * time.Second,
	}, es[0], "with the job's shape and the generation time, submit to end, for what package learn learns")

	// Settling again (a redelivered outcome) changes nothing.
	_, err := b.change(j.ID, nov.Add(time.Hour), func(store.Tx, *budget.JobTx, *job.Job) error { return nil })
	require.NoError(t, err)
	requirePeriod(t, b.period("2026-11"), "0.48", "0")
	require.Len(t, b.ledger(), 1)
	b.reconciles("2026-11")
}

func TestFailedJobReleasesAndChargesWhatWasBilled(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("10"), nil)
	j := b.newJob("")
	refused, _ := b.route(j.ID, "1", nov)
	require.NoError(t, refused)
	b.end(j.ID, job.AttemptFailed, "0.2", job.StatusFailed, nov)
	requirePeriod(t, b.period("2026-11"), "0.2", "0")
	es := b.ledger()
	require.Len(t, es, 1)
	require.Equal(t, usd("1"), es[0].Released)
	require.True(t, es[0].Final)
	require.Equal(t, job.CodeBackendUnavailable, es[0].ErrorCode, "the attempt's error code")
	b.reconciles("2026-11")
}

func TestFailoverMovesTheReservation(t *testing.T) {
	t.Parallel()
	// Room for exactly 0.1 billed + 0.6: a fresh 0.6 would not fit beside
	// the failed attempt's 0.5, the moved one does.
	b := setup(t, lim("0.7"), nil)
	j := b.newJob("alice")
	refused, _ := b.route(j.ID, "0.5", nov)
	require.NoError(t, refused)

	// Attempt 1 fails over, billed 0.1: 0.4 stays held for attempt 2.
	b.end(j.ID, job.AttemptFailed, "0.1", job.StatusQueued, nov)
	requirePeriod(t, b.period("2026-11"), "0.1", "0.4")
	requirePeriod(t, b.user("2026-11", "alice"), "0.1", "0.4")
	es := b.ledger()
	require.Len(t, es, 1)
	require.Equal(t, usd("0.1"), es[0].Released)
	require.Equal(t, usd("0.4"), es[0].Carried)
	require.False(t, es[0].Final)
	b.reconciles("2026-11") // a failover in flight balances too

	// Another job cannot take the carried reservation meanwhile.
	other := b.newJob("")
	refusedOther, _ := b.route(other.ID, "0.3", nov)
	require.ErrorIs(t, refusedOther, errclass.Budget)

	refused, _ = b.route(j.ID, "0.6", nov)
	require.NoError(t, refused, "moving 0.4 to 0.6 needs only 0.2 more")
	requirePeriod(t, b.period("2026-11"), "0.1", "0.6")
	require.Equal(t, usd("0.6"), b.job(j.ID).Attempts[1].Reserved)

	b.end(j.ID, job.AttemptSucceeded, "0.6", job.StatusSucceeded, nov)
	requirePeriod(t, b.period("2026-11"), "0.7", "0")
	requirePeriod(t, b.user("2026-11", "alice"), "0.7", "0")
	require.Len(t, b.ledger(), 2)
	rep := b.reconciles("2026-11")
	require.Equal(t, usd("0.7"), rep.LedgerTotal)
	require.Equal(t, usd("0.7"), rep.JobsCost)
}

func TestFailoverRefusedReleasesWhatWasHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("1"), nil)
	j := b.newJob("")
	refused, _ := b.route(j.ID, "0.5", nov)
	require.NoError(t, refused)
	b.end(j.ID, job.AttemptFailed, "0", job.StatusQueued, nov)
	refused, _ = b.route(j.ID, "1.1", nov)
	require.ErrorIs(t, refused, errclass.Budget)
	require.Contains(t, refused.Error(), "limit $1, spent $0, reserved $0, estimate $1.1", "the job's own hold is not counted against it")
	got := b.job(j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeBudgetExceeded, got.Error.Code)
	requirePeriod(t, b.period("2026-11"), "0", "0")
	b.reconciles("2026-11")
}

func TestRouterFailingAQueuedJobReleasesItsCarry(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	j := b.newJob("bob")
	b.route(j.ID, "0.5", nov)
	b.end(j.ID, job.AttemptFailed, "0", job.StatusQueued, nov)
	requirePeriod(t, b.period("2026-11"), "0", "0.5")
	// no_backend: the router fails the job without reserving.
	_, err := b.change(j.ID, nov, func(_ store.Tx, _ *budget.JobTx, j *job.Job) error {
		return j.Fail(job.CodeNoBackend, "none", nov)
	})
	require.NoError(t, err)
	requirePeriod(t, b.period("2026-11"), "0", "0")
	requirePeriod(t, b.user("2026-11", "bob"), "0", "0")
	b.reconciles("2026-11")
}

func TestRouterSettlesAnAttemptLeftUnsettled(t *testing.T) {
	t.Parallel()
	// A job requeued by something that did not settle its attempt (a
	// worker before budgets, a sweeper): the router settles it first.
	b := setup(t, lim("1"), nil)
	j := b.newJob("")
	b.route(j.ID, "0.5", nov)
	_, err := storetest.UpdateJob(context.Background(), b.st, j.ID, func(j *job.Job) error {
		a := j.CurrentAttempt()
		a.Status, a.Cost = job.AttemptFailed, usd("0.05")
		j.Cost = a.Cost
		return j.Transition(job.StatusQueued, nov)
	})
	require.NoError(t, err)
	refused, _ := b.route(j.ID, "0.5", nov)
	require.NoError(t, refused)
	requirePeriod(t, b.period("2026-11"), "0.05", "0.5")
	es := b.ledger()
	require.Len(t, es, 1)
	require.Equal(t, usd("0.05"), es[0].Cost)
	require.Equal(t, usd("0.45"), es[0].Carried)
	b.reconciles("2026-11")
}

func TestFailoverAcrossMonths(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("1"), nil)
	j := b.newJob("")
	lastNov := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	firstDec := time.Date(2026, 12, 1, 0, 1, 0, 0, time.UTC)
	b.route(j.ID, "0.5", lastNov)
	b.end(j.ID, job.AttemptFailed, "0.1", job.StatusQueued, firstDec)
	requirePeriod(t, b.period("2026-11"), "0.1", "0.4") // charged where it was reserved
	b.route(j.ID, "0.6", firstDec)
	requirePeriod(t, b.period("2026-11"), "0.1", "0")
	requirePeriod(t, b.period("2026-12"), "0", "0.6")
	b.end(j.ID, job.AttemptSucceeded, "0.6", job.StatusSucceeded, firstDec)
	requirePeriod(t, b.period("2026-12"), "0.6", "0")
	b.reconciles("2026-11")
	b.reconciles("2026-12")
}

func TestPeriodRollover(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("1"), nil)
	full := b.newJob("")
	b.route(full.ID, "1", nov)
	late := b.newJob("")
	refused, _ := b.route(late.ID, "0.5", nov)
	require.ErrorIs(t, refused, errclass.Budget, "November is full")

	// A job dispatched in November ends in December: November pays.
	dec := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	b.end(full.ID, job.AttemptSucceeded, "1", job.StatusSucceeded, dec)
	requirePeriod(t, b.period("2026-11"), "1", "0")
	requirePeriod(t, b.period("2026-12"), "0", "0")
	fresh := b.newJob("")
	refused, _ = b.route(fresh.ID, "1", dec)
	require.NoError(t, refused, "December starts empty")
	b.reconciles("2026-11")
	b.reconciles("2026-12")
}

func TestUserBudgets(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("10"), map[string]money.Micros{"alice": usd("1")})
	a1 := b.newJob("alice")
	refused, _ := b.route(a1.ID, "0.75", nov)
	require.NoError(t, refused)
	a2 := b.newJob("alice")
	refused, _ = b.route(a2.ID, "0.5", nov)
	require.ErrorIs(t, refused, errclass.Budget, "alice's own limit refuses")
	var ee *budget.ExceededError
	require.ErrorAs(t, refused, &ee)
	require.Equal(t, "alice", ee.UserID)
	require.Equal(t, usd("0.75"), ee.Reserved)

	// Bob has no limit of his own: only the project's applies.
	bob := b.newJob("bob")
	refused, _ = b.route(bob.ID, "9.25", nov)
	require.NoError(t, refused)
	nobody := b.newJob("")
	refused, _ = b.route(nobody.ID, "0.000001", nov)
	require.ErrorIs(t, refused, errclass.Budget, "the project is full")
	require.ErrorAs(t, refused, &ee)
	require.Empty(t, ee.UserID)

	requirePeriod(t, b.period("2026-11"), "0", "10")
	requirePeriod(t, b.user("2026-11", "alice"), "0", "0.75")
	requirePeriod(t, b.user("2026-11", "bob"), "0", "9.25")
	b.reconciles("2026-11")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("10"), nil)
	cancel := func(id string) {
		_, err := b.change(id, nov, func(_ store.Tx, _ *budget.JobTx, j *job.Job) error {
			if a := j.CurrentAttempt(); a != nil && a.Status == "dispatched" {
				a.Status = job.AttemptCanceled
			}
			return j.Transition(job.StatusCanceled, nov)
		})
		require.NoError(t, err)
	}

	dispatched := b.newJob("")
	b.route(dispatched.ID, "1", nov)
	cancel(dispatched.ID)
	requirePeriod(t, b.period("2026-11"), "0", "0")

	failingOver := b.newJob("")
	b.route(failingOver.ID, "1", nov)
	b.end(failingOver.ID, job.AttemptFailed, "0.25", job.StatusQueued, nov)
	cancel(failingOver.ID)
	requirePeriod(t, b.period("2026-11"), "0.25", "0")

	// A job running at the provider when canceled keeps its reservation
	// until the worker cancels it there and settles what was billed.
	running := b.newJob("")
	b.route(running.ID, "2", nov)
	_, err := storetest.UpdateJob(context.Background(), b.st, running.ID, func(j *job.Job) error {
		j.CurrentAttempt().Status = job.AttemptRunning
		return j.Transition(job.StatusRunning, nov)
	})
	require.NoError(t, err)
	_, err = storetest.UpdateJob(context.Background(), b.st, running.ID, func(j *job.Job) error {
		return j.Transition(job.StatusCanceled, nov) // the API, without the budget
	})
	require.NoError(t, err)
	requirePeriod(t, b.period("2026-11"), "0.25", "2")
	b.reconciles("2026-11")
	b.end(running.ID, job.AttemptCanceled, "0.5", job.StatusCanceled, nov)
	requirePeriod(t, b.period("2026-11"), "0.75", "0")
	require.Len(t, b.ledger(), 3)
	b.reconciles("2026-11")
}

func TestThresholdsAnnouncedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, lim("1"), nil)
	var got []int
	for range 4 {
		j := b.newJob("")
		_, crossings := b.route(j.ID, "0.25", nov)
		for _, c := range crossings {
			got = append(got, c.Threshold)
		}
		for _, c := range b.end(j.ID, job.AttemptSucceeded, "0.25", job.StatusSucceeded, nov) {
			got = append(got, c.Threshold)
		}
	}
	require.Equal(t, []int{50, 80, 100}, got)
	require.Equal(t, []int{50, 80, 100}, b.period("2026-11").Notified)
}

func TestApplyChecksItsUse(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	j := b.newJob("")
	_, err := b.change(j.ID, nov, func(tx store.Tx, bk *budget.JobTx, j *job.Job) error {
		return bk.Reserve(tx, j, usd("1"), nov) // and no attempt added
	})
	require.ErrorIs(t, err, errclass.Permanent)
	_, err = b.change(j.ID, nov, func(_ store.Tx, _ *budget.JobTx, j *job.Job) error {
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Reserved: usd("1"), StartedAt: nov})
		return nil
	})
	require.ErrorIs(t, err, errclass.Permanent, "Reserved without Reserve")
	_, err = b.change(j.ID, nov, func(tx store.Tx, bk *budget.JobTx, j *job.Job) error {
		if err := bk.Reserve(tx, j, usd("1"), nov); err != nil {
			return err
		}
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Reserved: usd("2"), StartedAt: nov})
		return nil
	})
	require.ErrorIs(t, err, errclass.Permanent, "Reserved must be what was reserved")
	requirePeriod(t, b.period("2026-11"), "0", "0")
}

func TestNeedsSettlement(t *testing.T) {
	t.Parallel()
	mk := func(status job.Status, attempts ...job.AttemptStatus) *job.Job {
		j := &job.Job{Status: status}
		for i, st := range attempts {
			j.Attempts = append(j.Attempts, job.Attempt{Number: i + 1, Status: st})
		}
		return j
	}
	tests := []struct {
		name          string
		before, after *job.Job
		want          bool
	}{
		{"submit intent", mk(job.StatusDispatched, "dispatched"), mk(job.StatusRunning, job.AttemptSubmitting), false},
		{"handle recorded", mk(job.StatusRunning, job.AttemptSubmitting), mk(job.StatusRunning, job.AttemptRunning), false},
		{"success", mk(job.StatusRunning, job.AttemptRunning), mk(job.StatusSucceeded, job.AttemptSucceeded), true},
		{"failover", mk(job.StatusRunning, job.AttemptRunning), mk(job.StatusQueued, job.AttemptFailed), true},
		{"canceled job's attempt", mk(job.StatusCanceled, job.AttemptRunning), mk(job.StatusCanceled, job.AttemptCanceled), true},
		{"cancel of a queued job", mk(job.StatusQueued), mk(job.StatusCanceled), true},
		{"cancel of a queued job after a failover", mk(job.StatusQueued, job.AttemptFailed), mk(job.StatusCanceled, job.AttemptFailed), true},
		{"cancel of a dispatched job", mk(job.StatusDispatched, job.AttemptDispatched), mk(job.StatusCanceled, job.AttemptCanceled), true},
		{"cancel of a running job waits for its attempt", mk(job.StatusRunning, job.AttemptRunning), mk(job.StatusCanceled, job.AttemptRunning), false},
		{"dispatch", mk(job.StatusQueued, job.AttemptFailed), mk(job.StatusDispatched, job.AttemptFailed, "dispatched"), false},
		{"already terminal", mk(job.StatusSucceeded, job.AttemptSucceeded), mk(job.StatusSucceeded, job.AttemptSucceeded), false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, budget.NeedsSettlement(tt.before, tt.after), tt.name)
	}
}
