package budget_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// headWrites counts the transactions that write a project's period head
// document: every routing and outcome transaction did, before shards.
type headWrites struct {
	store.Store
	n atomic.Int64
}

type headWritesTx struct {
	store.Tx
	wrote *bool
}

func (s *headWrites) RunTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.RunTx(ctx, func(tx store.Tx) error {
		wrote := false
		err := fn(headWritesTx{Tx: tx, wrote: &wrote})
		if err == nil && wrote {
			s.n.Add(1)
		}
		return err
	})
}

func (t headWritesTx) PutPeriod(p store.Period) error {
	if p.Shard == 0 {
		*t.wrote = true
	}
	return t.Tx.PutPeriod(p)
}

// No hot budget document (issue 14): routing and settling 300 jobs of one
// project with a limit writes the period's head only where a reservation
// gathers the shards (a threshold reached), not once or twice per job, and
// the books still balance.
func TestJobsDoNotAllWriteTheHead(t *testing.T) {
	t.Parallel()
	limit := usd("1000")
	b := setup(t, &limit, nil)
	counted := &headWrites{Store: b.st}
	for i := range 300 {
		j := b.newJob("")
		refused, _ := routeOn(t, counted, j.ID, "1", nov)
		require.NoError(t, refused, "job %d", i)
		settleOn(t, counted, j.ID, "0.9", nov.Add(time.Minute))
	}
	assert.LessOrEqual(t, counted.n.Load(), int64(3), "the head is written when a threshold is reached, not per job")
	p, _, err := budget.ReadPeriod(context.Background(), b.st, b.project, budget.PeriodOf(nov))
	require.NoError(t, err)
	require.Equal(t, usd("270"), p.Spent)
	require.Zero(t, p.Reserved)
	rep, err := budget.Check(context.Background(), b.st, b.project, budget.PeriodOf(nov))
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
}

// A limit lowered mid-month applies at once: allotments granted under the
// old limit are not used, so the shards cannot together pass the new one.
func TestLoweredLimitVoidsAllotments(t *testing.T) {
	t.Parallel()
	limit := usd("100")
	b := setup(t, &limit, nil)
	for range 9 {
		refused, _ := b.route(b.newJob("").ID, "1", nov)
		require.NoError(t, refused)
	}
	lower := usd("10")
	require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: b.project, MonthlyLimit: &lower})
	}))
	refused, _ := b.route(b.newJob("").ID, "2", nov)
	require.ErrorIs(t, refused, errclass.Budget, "9 + 2 > 10")
	require.ErrorContains(t, refused, "limit $10, spent $0, reserved $9, estimate $2")
	refused, _ = b.route(b.newJob("").ID, "1", nov)
	require.NoError(t, refused, "9 + 1 = 10 fits")
	refused, _ = b.route(b.newJob("").ID, "0.01", nov)
	require.ErrorIs(t, refused, errclass.Budget)
}

// The hard budget holds with 1,000 reservations racing on one project
// (issue 14): exactly the jobs that fit are dispatched, spent + reserved
// never passes the limit in any snapshot, and each threshold is announced
// once. On the memory store, and on the Firestore emulator in optimistic
// mode, where racing transactions abort and retry with the client's
// backoff: 200 racers there by default (a thousand take minutes on a
// loaded 2-core machine under the race detector);
// AIPROD_EMULATOR_RACERS=1000 runs the full race.
func TestThousandConcurrentReservations(t *testing.T) {
	t.Parallel()
	emulatorRacers := 200
	if v := os.Getenv("AIPROD_EMULATOR_RACERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "AIPROD_EMULATOR_RACERS")
		emulatorRacers = n
	}
	for _, tc := range []struct {
		name   string
		racers int
		store  func(t *testing.T) store.Store
	}{
		{"memstore", 1000, func(*testing.T) store.Store { return memstore.New() }},
		{"emulator", emulatorRacers, func(t *testing.T) store.Store {
			srv, err := firestoreemu.NewServer(firestoreemu.Optimistic())
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			c, err := srv.Client(context.Background(), "race")
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return firestorestore.NewFromClient(c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raceReservations(t, tc.store(t), tc.racers, money.Micros(tc.racers/4)*usd("1"), usd("0.5"))
		})
	}
}

func raceReservations(t *testing.T, st store.Store, n int, limit, estimate money.Micros) {
	ctx := context.Background()
	require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "p", MonthlyLimit: &limit})
	}))
	ids := make([]string, n)
	for i := range ids {
		req := job.Request{Prompt: "a fox", DurationSeconds: 5}
		req.ApplyDefaults()
		j := job.New("", "p", req, nov)
		ids[i] = j.ID
		require.NoError(t, st.RunTx(ctx, func(tx store.Tx) error { return tx.CreateJob(j) }))
	}
	stop := make(chan struct{})
	snapshots, overshoot := watchSnapshots(t, st, limit, stop)
	var dispatched, refused atomic.Int64
	var crossings sync.Map
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for {
				r, cs, err := routeJob(ctx, st, id, estimate)
				if errors.Is(err, errclass.Conflict) {
					continue // too much contention: the router's retry policy runs it again
				}
				if !assert.NoError(t, err) {
					return
				}
				for _, c := range cs {
					_, again := crossings.LoadOrStore(c.Threshold, true)
					assert.False(t, again, "threshold %d announced twice", c.Threshold)
				}
				if r != nil {
					refused.Add(1)
				} else {
					dispatched.Add(1)
				}
				return
			}
		})
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-overshoot)
	require.Positive(t, snapshots.Load())
	fit := int64(limit / estimate)
	require.Equal(t, fit, dispatched.Load(), "exactly the jobs that fit")
	require.Equal(t, int64(n)-fit, refused.Load())
	p, _, err := budget.ReadPeriod(ctx, st, "p", budget.PeriodOf(nov))
	require.NoError(t, err)
	require.Equal(t, limit, p.Reserved)
	require.Equal(t, []int{50, 80, 100}, p.Notified)
	for _, th := range []int{50, 80, 100} {
		_, ok := crossings.Load(th)
		require.True(t, ok, "threshold %d announced", th)
	}
}

// watchSnapshots reads the period whole until stop, and reports the first
// snapshot over the limit (nil when none).
func watchSnapshots(t *testing.T, st store.Store, limit money.Micros, stop <-chan struct{}) (*atomic.Int64, <-chan error) {
	t.Helper()
	var n atomic.Int64
	out := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				out <- nil
				return
			default:
			}
			p, _, err := budget.ReadPeriod(context.Background(), st, "p", budget.PeriodOf(nov))
			if err != nil {
				out <- err
				return
			}
			if n.Add(1); p.Spent+p.Reserved > limit {
				out <- fmt.Errorf("snapshot %d: spent %s + reserved %s > limit %s", n.Load(), p.Spent, p.Reserved, limit)
				return
			}
		}
	}()
	return &n, out
}

// routeJob reserves for job id and dispatches it, or fails it when the
// budget refuses (returned as refused), as the router does.
func routeJob(ctx context.Context, st store.Store, id string, estimate money.Micros) (refused error, crossings []budget.Crossing, err error) {
	var bk *budget.JobTx
	defer func() { bk.Done() }() // as jobwrite does: the shard picked is free again
	err = st.RunTx(ctx, func(tx store.Tx) error {
		refused, crossings = nil, nil
		bk.Done()
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		if bk, err = budget.Prepare(tx, j, budget.Defaults{}); err != nil {
			return err
		}
		switch err := bk.Reserve(tx, j, estimate, nov); {
		case errors.Is(err, errclass.Budget):
			refused = err
			if err := j.Fail(job.CodeBudgetExceeded, err.Error(), nov); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Status: job.AttemptDispatched,
				EstimatedCost: estimate, Reserved: estimate, StartedAt: nov, DurationSeconds: 5})
			if err := j.Transition(job.StatusDispatched, nov); err != nil {
				return err
			}
		}
		if crossings, err = bk.Apply(tx, j, nov); err != nil {
			return err
		}
		return tx.PutJob(j)
	})
	return refused, crossings, err
}

// routeOn and settleOn are books.route and books.end over another store.
func routeOn(t *testing.T, st store.Store, id, estimate string, now time.Time) (error, []budget.Crossing) {
	t.Helper()
	refused, crossings, err := routeJob(context.Background(), st, id, usd(estimate))
	require.NoError(t, err)
	return refused, crossings
}

func settleOn(t *testing.T, st store.Store, id, cost string, now time.Time) {
	t.Helper()
	require.NoError(t, settleJob(context.Background(), st, id, usd(cost), now))
}

// settleJob makes a dispatched job succeed at cost, as the worker does.
func settleJob(ctx context.Context, st store.Store, id string, cost money.Micros, at time.Time) error {
	return st.RunTx(ctx, func(tx store.Tx) error {
		before, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		after := before.Clone()
		a := after.CurrentAttempt()
		a.Status, a.Cost = job.AttemptSucceeded, cost
		after.Cost = a.Cost
		if err := after.Transition(job.StatusSucceeded, at); err != nil {
			return err
		}
		if _, err := budget.SettleJob(tx, before, after, budget.Defaults{}, at); err != nil {
			return err
		}
		return tx.PutJob(after)
	})
}
