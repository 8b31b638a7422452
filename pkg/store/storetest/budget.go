package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// budgetTests are the conformance tests of store.BudgetTx and
// store.BudgetReader, run by Run.
func budgetTests(cfg config) []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	// The acceptance race: 200 racers by default, fewer when Contention
	// lowers the concurrency for a slow emulator.
	racers := 200 * cfg.updaters / 50
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"BudgetAbsentIsZero", testBudgetAbsent},
		{"BudgetRoundTrip", testBudgetRoundTrip},
		{"PeriodsRoundTrip", testPeriodsRoundTrip},
		{"PeriodShards", testPeriodShards},
		{"GetPeriodsInOneRead", testGetPeriods},
		{"LedgerCreatedOnce", testLedgerCreatedOnce},
		{"LedgerConcurrentCreate", func(t *testing.T, s store.Store) { testLedgerConcurrent(t, s, cfg.creators) }},
		{"ListLedger", testListLedger},
		{"BudgetReadAfterWriteFails", testBudgetReadAfterWrite},
		{"AttemptReservedRoundTrip", testAttemptReservedRoundTrip},
		{"BudgetReservationRace", func(t *testing.T, s store.Store) { testReservationRace(t, s, racers) }},
	}
}

func usd(s string) money.Micros { return money.MustParse(s) }

func ptr[T any](v T) *T { return &v }

func testBudgetAbsent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		b, err := tx.GetBudget("p1")
		require.NoError(t, err)
		require.Equal(t, store.Budget{ProjectID: "p1"}, b)
		p, err := tx.GetPeriod("p1", "2026-11")
		require.NoError(t, err)
		require.Equal(t, store.Period{ProjectID: "p1", ID: "2026-11"}, p)
		u, err := tx.GetUserPeriod("p1", "2026-11", "alice")
		require.NoError(t, err)
		require.Equal(t, store.Period{ProjectID: "p1", ID: "2026-11", UserID: "alice"}, u)
		_, err = tx.GetLedger(store.LedgerID(job.NewID(), 1))
		require.ErrorIs(t, err, errclass.NotFound)
		return nil
	}))
	b, err := s.GetBudget(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, store.Budget{ProjectID: "p1"}, b)
	p, err := s.GetPeriod(ctx, "p1", "2026-11")
	require.NoError(t, err)
	require.Equal(t, store.Period{ProjectID: "p1", ID: "2026-11"}, p)
	users, err := s.ListUserPeriods(ctx, "p1", "2026-11")
	require.NoError(t, err)
	require.Empty(t, users)
	entries, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1"})
	require.NoError(t, err)
	require.Empty(t, entries)

	_, err = s.ListLedger(ctx, store.LedgerQuery{})
	require.ErrorIs(t, err, errclass.Permanent, "the project is required")
	_, err = s.GetPeriod(ctx, "p1", "2026-13")
	require.ErrorIs(t, err, errclass.Permanent, "a period is a month")
	err = s.RunTx(ctx, func(tx store.Tx) error { return tx.PutPeriod(store.Period{ProjectID: "p1", ID: "November"}) })
	require.ErrorIs(t, err, errclass.Permanent)
}

func testBudgetRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	in := store.Budget{
		ProjectID: "p1", MonthlyLimit: ptr(usd("50")),
		UserLimits: map[string]money.Micros{"alice": usd("10"), "bob/ops.team": usd("0.000001")},
		UpdatedAt:  t0,
	}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutBudget(in) }))
	*in.MonthlyLimit = usd("1") // the store kept no alias
	in.UserLimits["alice"] = 0
	want := store.Budget{
		ProjectID: "p1", MonthlyLimit: ptr(usd("50")),
		UserLimits: map[string]money.Micros{"alice": usd("10"), "bob/ops.team": usd("0.000001")},
		UpdatedAt:  norm(t0),
	}
	got, err := s.GetBudget(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetBudget("p1")
		require.Equal(t, want, got)
		return err
	}))

	// No limit and no users.
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "p1", UpdatedAt: t0})
	}))
	got, err = s.GetBudget(ctx, "p1")
	require.NoError(t, err)
	require.Equal(t, store.Budget{ProjectID: "p1", UpdatedAt: norm(t0)}, got)

	other, err := s.GetBudget(ctx, "p2")
	require.NoError(t, err)
	require.Nil(t, other.MonthlyLimit, "projects are apart")

	err = s.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "p1", MonthlyLimit: ptr(usd("-1"))})
	})
	require.ErrorIs(t, err, errclass.Permanent)
}

func testPeriodsRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	// User ids are free text: none may escape its document or collide.
	users := []string{"alice", "a/b", "a%2Fb", "__x__", ".", "..", "dé j@+", strings.Repeat("ü", 128)}
	proj := store.Period{ProjectID: "p1", ID: "2026-11", Spent: usd("12.5"), Reserved: usd("1.25"), Notified: []int{80, 50},
		ForecastNotified: true, UpdatedAt: t0}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		if err := tx.PutPeriod(proj); err != nil {
			return err
		}
		for i, u := range users {
			if err := tx.PutUserPeriod(store.Period{ProjectID: "p1", ID: "2026-11", UserID: u, Spent: money.Micros(i + 1), UpdatedAt: t0}); err != nil {
				return err
			}
		}
		// Another month and another project.
		if err := tx.PutPeriod(store.Period{ProjectID: "p1", ID: "2026-12", Spent: 7}); err != nil {
			return err
		}
		return tx.PutUserPeriod(store.Period{ProjectID: "p2", ID: "2026-11", UserID: "alice", Spent: 9})
	}))
	got, err := s.GetPeriod(ctx, "p1", "2026-11")
	require.NoError(t, err)
	want := proj
	want.Notified, want.UpdatedAt = []int{50, 80}, norm(t0)
	require.Equal(t, want, got, "Notified comes back sorted")

	list, err := s.ListUserPeriods(ctx, "p1", "2026-11")
	require.NoError(t, err)
	require.Len(t, list, len(users))
	byUser := map[string]store.Period{}
	for i, p := range list {
		if i > 0 {
			require.Less(t, list[i-1].UserID, p.UserID, "sorted by user id")
		}
		byUser[p.UserID] = p
	}
	for i, u := range users {
		require.Equal(t, store.Period{ProjectID: "p1", ID: "2026-11", UserID: u, Spent: money.Micros(i + 1), UpdatedAt: norm(t0)}, byUser[u], "user %q", u)
		require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
			p, err := tx.GetUserPeriod("p1", "2026-11", u)
			require.Equal(t, money.Micros(i+1), p.Spent, "user %q", u)
			return err
		}))
	}
	dec, err := s.GetPeriod(ctx, "p1", "2026-12")
	require.NoError(t, err)
	require.Equal(t, money.Micros(7), dec.Spent)
	p2, err := s.ListUserPeriods(ctx, "p2", "2026-11")
	require.NoError(t, err)
	require.Len(t, p2, 1)

	err = s.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutPeriod(store.Period{ProjectID: "p1", ID: "2026-11", UserID: "alice"})
	})
	require.ErrorIs(t, err, errclass.Permanent, "PutPeriod is for the project's period")
	err = s.RunTx(ctx, func(tx store.Tx) error { return tx.PutUserPeriod(store.Period{ProjectID: "p1", ID: "2026-11"}) })
	require.ErrorIs(t, err, errclass.Permanent, "PutUserPeriod needs a user")
}

func ledgerEntry(jobID string, attempt int, project string, at time.Time) store.LedgerEntry {
	return store.LedgerEntry{
		ID: store.LedgerID(jobID, attempt), JobID: jobID, Attempt: attempt, ProjectID: project, UserID: "alice",
		Backend: "runway", Model: "gen4_turbo", Period: budget.PeriodOf(at), Seconds: 5, Status: job.AttemptSucceeded,
		Shape:    store.Shape{Tier: job.TierDraft, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5, ImageScheme: "https"},
		Estimate: usd("0.25"), Reserved: usd("0.25"), Cost: usd("0.250001"), Released: usd("0.25"), Final: true, At: at,
		Generation: 41*time.Second + 123456*time.Microsecond,
	}
}

func testLedgerCreatedOnce(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	e := ledgerEntry(job.NewID(), 1, "p1", t0)
	e.Status, e.ErrorCode = job.AttemptFailed, job.CodeBackendUnavailable
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateLedger(e) }))
	var got store.LedgerEntry
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) (err error) { got, err = tx.GetLedger(e.ID); return err }))
	want := e
	want.At = norm(t0)
	require.Equal(t, want, got)
	old := ledgerEntry(job.NewID(), 1, "p1", t0)
	old.Shape = store.Shape{}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateLedger(old) }))
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) (err error) { got, err = tx.GetLedger(old.ID); return err }))
	require.Zero(t, got.Shape, "an entry without a shape reads back without one")

	again := e
	again.Cost = usd("99")
	err := s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateLedger(again) })
	require.ErrorIs(t, err, errclass.Conflict, "a ledger entry is written once")
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) (err error) { got, err = tx.GetLedger(e.ID); return err }))
	require.Equal(t, want, got, "the second create changed nothing")

	err = s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateLedger(store.LedgerEntry{ID: "x", Cost: 1}) })
	require.ErrorIs(t, err, errclass.Permanent, "an entry names its project")
}

// testLedgerConcurrent races n transactions that each read a ledger entry
// and create it when absent: exactly one creates it.
func testLedgerConcurrent(t *testing.T, s store.Store, n int) {
	ctx := ctxOf(t)
	id := job.NewID()
	var created atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- retryConflict(func() error {
				var mine bool
				err := s.RunTx(ctx, func(tx store.Tx) error {
					mine = false
					_, err := tx.GetLedger(store.LedgerID(id, 1))
					if !errors.Is(err, errclass.NotFound) {
						return err
					}
					e := ledgerEntry(id, 1, "p1", t0)
					e.Cost = money.Micros(i)
					mine = true
					return tx.CreateLedger(e)
				})
				if err == nil && mine {
					created.Add(1)
				}
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), created.Load())
	entries, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func testListLedger(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		// Ten entries an hour apart around the month's end, created out of
		// order, and one of another project.
		for _, i := range []int{3, 0, 9, 5, 1, 7, 2, 8, 4, 6} {
			e := ledgerEntry(job.NewID(), 1, "p1", time.Date(2026, 11, 30, 19+i, 0, 0, 0, time.UTC))
			if err := tx.CreateLedger(e); err != nil {
				return err
			}
		}
		return tx.CreateLedger(ledgerEntry(job.NewID(), 1, "p2", time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)))
	}))
	all, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1"})
	require.NoError(t, err)
	require.Len(t, all, 10)
	for i, e := range all {
		require.Equal(t, time.Date(2026, 11, 30, 19+i, 0, 0, 0, time.UTC), e.At, "ordered by time")
		require.Equal(t, "p1", e.ProjectID)
	}
	nov, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1", Period: "2026-11"})
	require.NoError(t, err)
	require.Len(t, nov, 5, "19:00 to 23:00 on Nov 30")
	dec, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1", Period: "2026-12"})
	require.NoError(t, err)
	require.Equal(t, all[5:], dec)

	from, to := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	window, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1", From: from, To: to})
	require.NoError(t, err)
	require.Equal(t, all[2:6], window, "From inclusive, To exclusive")
	both, err := s.ListLedger(ctx, store.LedgerQuery{ProjectID: "p1", From: from, To: to, Period: "2026-11"})
	require.NoError(t, err)
	require.Equal(t, all[2:5], both)
}

func testBudgetReadAfterWrite(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	reads := map[string]func(tx store.Tx) error{
		"GetBudget":     func(tx store.Tx) error { _, err := tx.GetBudget("p1"); return err },
		"GetPeriod":     func(tx store.Tx) error { _, err := tx.GetPeriod("p1", "2026-11"); return err },
		"GetUserPeriod": func(tx store.Tx) error { _, err := tx.GetUserPeriod("p1", "2026-11", "alice"); return err },
		"GetLedger":     func(tx store.Tx) error { _, err := tx.GetLedger("x-1"); return err },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			var readErr error
			err := s.RunTx(ctx, func(tx store.Tx) error {
				if err := tx.PutPeriod(store.Period{ProjectID: "p1", ID: "2026-11", Spent: 1}); err != nil {
					return err
				}
				readErr = read(tx)
				return nil
			})
			require.Error(t, readErr)
			require.Error(t, err)
			p, gerr := s.GetPeriod(ctx, "p1", "2026-11")
			require.NoError(t, gerr)
			require.Zero(t, p.Spent, "the transaction wrote nothing")
		})
	}
}

func testAttemptReservedRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j := fullJob()
	j.Attempts[0].Reserved = usd("0.4")
	j.Attempts[1].Reserved = usd("0.25")
	mustCreate(t, s, j)
	got, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, want(j), got)
}

// testReservationRace is the budget's acceptance test at store level: n
// jobs race to reserve an estimate each against a limit that fits exactly
// n/5 of them. Exactly that many are dispatched, the others fail with
// budget_exceeded, and spent + reserved never passes the limit in any
// snapshot taken during the run. Then every dispatched job settles
// concurrently (at a cost a little off its estimate), and the books
// reconcile.
func testReservationRace(t *testing.T, s store.Store, n int) {
	r := newReservationRace(t, s, n)
	stopWatching := r.watchLimit()
	r.forEachJob(t, func(_ int, j *job.Job) error { return r.route(j.ID) })
	r.checkRouted(t)
	// The odd ones cost a micro-dollar less than estimated.
	r.forEachJob(t, func(i int, j *job.Job) error { return r.settle(j.ID, r.estimate-money.Micros(i%2)) })
	snapshots, err := stopWatching()
	require.NoError(t, err)
	require.Positive(t, snapshots)
	r.checkBooks(t)
}

// reservationRace is the state of testReservationRace.
type reservationRace struct {
	ctx      context.Context
	s        store.Store
	project  string
	estimate money.Micros // of every job
	fit      int          // how many jobs the limit fits
	limit    money.Micros // estimate × fit
	now      time.Time
	jobs     []*job.Job
}

// newReservationRace sets the project's limit and creates the n jobs, half
// of them alice's.
func newReservationRace(t *testing.T, s store.Store, n int) *reservationRace {
	// Two minutes, not ctxOf's 30 s: 200 racers on an emulator that locks
	// what it reads run one at a time, and a loaded 2-core machine is slow.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := &reservationRace{ctx: ctx, s: s, project: "race", estimate: usd("0.25"), fit: n / 5,
		now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	r.limit = r.estimate.Times(r.fit)
	require.NoError(t, s.RunTx(r.ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: r.project, MonthlyLimit: &r.limit, UpdatedAt: r.now})
	}))
	r.jobs = make([]*job.Job, n)
	for i := range r.jobs {
		r.jobs[i] = newJob(r.project, r.now)
		if i%2 == 0 {
			r.jobs[i].UserID = "alice"
		}
		mustCreate(t, s, r.jobs[i])
	}
	return r
}

// watchLimit reads the period in a loop until stop is called, which
// returns the number of snapshots taken and the first failure: a read
// error or spent + reserved past the limit.
func (r *reservationRace) watchLimit() (stop func() (int32, error)) {
	done := make(chan struct{})
	var snapshots atomic.Int32
	snapErr := make(chan error, 1)
	go func() {
		defer close(snapErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			p, _, err := budget.ReadPeriod(r.ctx, r.s, r.project, budget.PeriodOf(r.now))
			if err != nil {
				snapErr <- err
				return
			}
			snapshots.Add(1)
			if p.Spent+p.Reserved > r.limit {
				snapErr <- fmt.Errorf("snapshot %d: spent %s + reserved %s > limit %s", snapshots.Load(), p.Spent, p.Reserved, r.limit)
				return
			}
		}
	}()
	return func() (int32, error) {
		close(done)
		err := <-snapErr
		return snapshots.Load(), err
	}
}

// forEachJob runs fn for every job concurrently, retrying lost races, and
// requires every call to succeed.
func (r *reservationRace) forEachJob(t *testing.T, fn func(i int, j *job.Job) error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(r.jobs))
	for i, j := range r.jobs {
		wg.Go(func() { errs <- retryConflict(func() error { return fn(i, j) }) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// route reserves the estimate for job id and dispatches it, or fails it
// with budget_exceeded when the budget refuses, as the router does.
func (r *reservationRace) route(id string) error {
	return r.changeJob(id, r.now, nil, func(tx store.Tx, bk *budget.JobTx, j *job.Job) error {
		err := bk.Reserve(tx, j, r.estimate, r.now)
		switch {
		case errors.Is(err, errclass.Budget):
			return j.Fail(job.CodeBudgetExceeded, err.Error(), r.now)
		case err != nil:
			return err
		}
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Status: "dispatched",
			EstimatedCost: r.estimate, Reserved: r.estimate, StartedAt: r.now, DurationSeconds: 5})
		return j.Transition(job.StatusDispatched, r.now)
	})
}

// changeJob changes job id in one transaction as the services do: it
// reads the job, leaves it as is when skip says so, prepares its budget
// change, lets change edit it, then applies the budget change at at and
// writes the job.
func (r *reservationRace) changeJob(id string, at time.Time, skip func(*job.Job) bool,
	change func(tx store.Tx, bk *budget.JobTx, j *job.Job) error) error {
	var bk *budget.JobTx
	defer func() { bk.Done() }()
	return r.s.RunTx(r.ctx, func(tx store.Tx) error {
		bk.Done()
		j, err := tx.GetJob(id)
		if err != nil || skip != nil && skip(j) {
			return err
		}
		if bk, err = budget.Prepare(tx, j, budget.Defaults{}); err != nil {
			return err
		}
		if err := change(tx, bk, j); err != nil {
			return err
		}
		if _, err := bk.Apply(tx, j, at); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
}

// checkRouted requires exactly the jobs that fit to be dispatched, holding
// the whole limit, and the others refused.
func (r *reservationRace) checkRouted(t *testing.T) {
	dispatched, refused := 0, 0
	for _, j := range r.jobs {
		got, err := r.s.GetJob(r.ctx, j.ID)
		require.NoError(t, err)
		switch got.Status {
		case job.StatusDispatched:
			dispatched++
		case job.StatusFailed:
			refused++
			require.Equal(t, job.CodeBudgetExceeded, got.Error.Code)
			require.Contains(t, got.Error.Message, "limit $"+r.limit.USD())
		default:
			t.Fatalf("job %s is %s", j.ID, got.Status)
		}
	}
	require.Equal(t, r.fit, dispatched, "exactly the jobs that fit are dispatched")
	require.Equal(t, len(r.jobs)-r.fit, refused)
	p, _, err := budget.ReadPeriod(r.ctx, r.s, r.project, budget.PeriodOf(r.now))
	require.NoError(t, err)
	require.Equal(t, r.limit, p.Reserved)
	require.Zero(t, p.Spent)
	require.Equal(t, []int{50, 80, 100}, p.Notified)
}

// settle makes job id, if dispatched, succeed at cost, as the worker does.
func (r *reservationRace) settle(id string, cost money.Micros) error {
	at := r.now.Add(time.Minute)
	notDispatched := func(j *job.Job) bool { return j.Status != job.StatusDispatched }
	return r.changeJob(id, at, notDispatched, func(_ store.Tx, _ *budget.JobTx, j *job.Job) error {
		a := j.CurrentAttempt()
		a.Status = job.AttemptSucceeded
		a.Cost = cost
		j.Cost = a.Cost
		return j.Transition(job.StatusSucceeded, at)
	})
}

// checkBooks requires every reservation released, one ledger entry per
// settled job summing to spent, and no difference for budget.Check.
func (r *reservationRace) checkBooks(t *testing.T) {
	p, _, err := budget.ReadPeriod(r.ctx, r.s, r.project, budget.PeriodOf(r.now))
	require.NoError(t, err)
	require.Zero(t, p.Reserved, "every reservation released")
	entries, err := r.s.ListLedger(r.ctx, store.LedgerQuery{ProjectID: r.project})
	require.NoError(t, err)
	require.Len(t, entries, r.fit, "one ledger entry per settled attempt")
	var total money.Micros
	for _, e := range entries {
		total += e.Cost
	}
	require.Equal(t, total, p.Spent)
	rep, err := budget.Check(r.ctx, r.s, r.project, budget.PeriodOf(r.now))
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
	require.Equal(t, total, rep.JobsCost)
}

// Shards of a period (package budget spreads reservations over them) read
// and write apart from its head, the project's and each user's, and
// ListPeriodShards lists them all, while ListUserPeriods lists heads only.
func testPeriodShards(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	limit := usd("100")
	shards := []store.Period{
		{ProjectID: "p1", ID: "2026-11", Shard: 3, Spent: usd("1"), Reserved: usd("2"), Allotment: usd("10"), GrantedUnder: &limit},
		{ProjectID: "p1", ID: "2026-11", Shard: 1, Reserved: usd("0.5")},
		{ProjectID: "p1", ID: "2026-11", UserID: "al/ice", Shard: 2, Spent: usd("4"), Allotment: usd("5"), GrantedUnder: &limit},
	}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		for _, p := range shards {
			if err := putPeriod(tx, p); err != nil {
				return err
			}
		}
		return tx.PutPeriod(store.Period{ProjectID: "p1", ID: "2026-11", Spent: usd("7")})
	}))
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetPeriodShard("p1", "2026-11", "", 3)
		require.NoError(t, err)
		require.Equal(t, store.NormalizeTime(got.UpdatedAt), got.UpdatedAt)
		require.Equal(t, shards[0], got)
		got, err = tx.GetPeriodShard("p1", "2026-11", "al/ice", 2)
		require.NoError(t, err)
		require.Equal(t, shards[2], got)
		absent, err := tx.GetPeriodShard("p1", "2026-11", "bob", 2)
		require.NoError(t, err)
		require.Equal(t, store.Period{ProjectID: "p1", ID: "2026-11", UserID: "bob", Shard: 2}, absent)
		_, err = tx.GetPeriodShard("p1", "2026-11", "", 0)
		require.ErrorIs(t, err, errclass.Permanent, "shards count from 1")
		head, err := tx.GetPeriod("p1", "2026-11")
		require.NoError(t, err)
		require.Equal(t, usd("7"), head.Spent, "the head apart from its shards")
		return nil
	}))
	listed, err := s.ListPeriodShards(ctx, "p1", "2026-11")
	require.NoError(t, err)
	require.Equal(t, []store.Period{shards[1], shards[0], shards[2]}, listed, "by user, then shard")
	users, err := s.ListUserPeriods(ctx, "p1", "2026-11")
	require.NoError(t, err)
	require.Empty(t, users, "user shards are not user heads")
}

// GetPeriods reads heads, user heads and shards, present or absent, and the
// budget configuration with them when asked: the same answers as the
// single reads.
func testGetPeriods(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	limit := usd("100")
	written := []store.Period{
		{ProjectID: "p1", ID: "2026-11", Spent: usd("7"), Notified: []int{50}},
		{ProjectID: "p1", ID: "2026-11", UserID: "al/ice", Reserved: usd("1")},
		{ProjectID: "p1", ID: "2026-11", Shard: 3, Spent: usd("1"), Allotment: usd("10"), GrantedUnder: &limit},
		{ProjectID: "p1", ID: "2026-11", UserID: "al/ice", Shard: 2, Spent: usd("4")},
	}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		for _, p := range written {
			if err := putPeriod(tx, p); err != nil {
				return err
			}
		}
		return tx.PutBudget(store.Budget{ProjectID: "p1", MonthlyLimit: &limit})
	}))
	keys := []store.PeriodKey{{Period: "2026-11", Shard: 3}, {Period: "2026-11"}, {Period: "2026-12", Shard: 1},
		{Period: "2026-11", UserID: "al/ice", Shard: 2}, {Period: "2026-11", UserID: "al/ice"}, {Period: "2026-11", UserID: "bob"}}
	want := []store.Period{written[2], written[0], {ProjectID: "p1", ID: "2026-12", Shard: 1}, written[3], written[1],
		{ProjectID: "p1", ID: "2026-11", UserID: "bob"}}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		var cfg store.Budget
		got, err := tx.GetPeriods("p1", keys, &cfg)
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, store.Budget{ProjectID: "p1", MonthlyLimit: &limit}, cfg)
		got, err = tx.GetPeriods("p1", keys[:1], nil)
		require.NoError(t, err)
		require.Equal(t, want[:1], got)
		got, err = tx.GetPeriods("p2", nil, &cfg)
		require.NoError(t, err)
		require.Empty(t, got)
		require.Equal(t, store.Budget{ProjectID: "p2"}, cfg, "no configuration: no limit")
		_, err = tx.GetPeriods("p1", []store.PeriodKey{{Period: "2026-11", Shard: -1}}, nil)
		require.ErrorIs(t, err, errclass.Permanent)
		return nil
	}))
}

func putPeriod(tx store.Tx, p store.Period) error {
	if p.UserID != "" {
		return tx.PutUserPeriod(p)
	}
	return tx.PutPeriod(p)
}
