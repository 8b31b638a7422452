package budget_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
)

// rpcLatency is the network time added to every Firestore request of the
// benchmark: a few milliseconds, as between Cloud Run and Firestore in one
// region. Without it the in-process emulator answers in microseconds and
// transactions barely overlap.
const rpcLatency = 2 * time.Millisecond

// BenchmarkOneProjectBudget measures what one project's budget documents
// let through on the Firestore emulator (issue 14, "no hot budget
// document"): 32 routers reserve for the project's jobs at once and 32
// workers settle them, as the services' transactions do, over an
// optimistic database (contention shows as aborted transactions, which the
// client retries; a transaction that gives up is run again, as the
// services' retry policy does) with rpcLatency per request. It reports
// routed-jobs/s (reservations committed per second), settled-jobs/s and
// tx-retries/job (transaction function runs beyond the first, per job,
// over both transactions; route-retries/job those of the routing ones).
func BenchmarkOneProjectBudget(b *testing.B) {
	srv, err := firestoreemu.NewServer(firestoreemu.Optimistic())
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	c, err := srv.ClientWithDialOptions(context.Background(), "bench-budget",
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			time.Sleep(rpcLatency)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			time.Sleep(rpcLatency)
			return streamer(ctx, desc, cc, method, opts...)
		}))
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	st := firestorestore.NewFromClient(c)
	ctx := context.Background()
	limit := usd("1000000")
	require.NoError(b, st.RunTx(ctx, func(tx store.Tx) error {
		return tx.PutBudget(store.Budget{ProjectID: "p", MonthlyLimit: &limit})
	}))
	ids := make([]string, b.N)
	for i := range ids {
		req := job.Request{Prompt: "a fox", DurationSeconds: 5}
		req.ApplyDefaults()
		j := job.New("", "p", req, nov)
		ids[i] = j.ID
		require.NoError(b, st.RunTx(ctx, func(tx store.Tx) error { return tx.CreateJob(j) }))
	}
	runs := &txRuns{Store: st}
	b.ResetTimer()
	start := time.Now()
	routed := runAll(b, ids, func(id string) error {
		_, _, err := routeJob(ctx, runs, id, usd("0.5"))
		return err
	})
	routeTime := time.Since(start)
	routeRuns := runs.n.Load()
	start = time.Now()
	runAll(b, ids, func(id string) error { return settleJob(ctx, runs, id, usd("0.4"), nov.Add(time.Minute)) })
	settleTime := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(routed)/routeTime.Seconds(), "routed-jobs/s")
	b.ReportMetric(float64(len(ids))/settleTime.Seconds(), "settled-jobs/s")
	b.ReportMetric(float64(runs.n.Load()-int64(2*len(ids)))/float64(len(ids)), "tx-retries/job")
	b.ReportMetric(float64(routeRuns-int64(len(ids)))/float64(len(ids)), "route-retries/job")
}

// runAll runs fn over ids on 32 goroutines and returns how many succeeded.
func runAll(b *testing.B, ids []string, fn func(string) error) int {
	work := make(chan string)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for id := range work {
				err := fn(id)
				for errors.Is(err, errclass.Conflict) {
					err = fn(id) // too much contention: the services retry
				}
				if err != nil {
					b.Errorf("job %s: %v", id, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return int(ok.Load())
}

// txRuns counts the runs of transaction functions: the first of each
// transaction and its retries.
type txRuns struct {
	store.Store
	n atomic.Int64
}

func (s *txRuns) RunTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.RunTx(ctx, func(tx store.Tx) error {
		s.n.Add(1)
		return fn(tx)
	})
}
