package worker_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/worker"
)

// inflightJobs is how many generations BenchmarkWorkerMemory keeps polled.
const inflightJobs = 10_000

// memCatalog has one backend without a concurrency cap, so that every
// dispatched job is submitted at once.
const memCatalog = `{"version": "bench", "backends": [
  {"name": "slow", "provider": "luma", "endpoint": "http://slow", "offers": [
    {"model": "s1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5],
     "text_to_video": true, "image_to_video": false, "audio": false,
     "prices": [{"per_second_usd": 0.10, "source": "bench", "as_of": "2026-01-01"}]}]}]}`

// BenchmarkWorkerMemory measures the memory a worker holds per generation
// it is polling: 10,000 dispatched jobs on the memory queue and store, a
// worker (pull mode, MaxOutstanding 10,000, polling every second) and a
// backend whose generations run forever. Heap in use plus goroutine stacks
// are read after a GC three times: before the worker starts (the jobs and
// messages exist), once every generation has been polled, and after the
// worker stopped. bytes/inflight-job is (polling − stopped) / 10,000: what
// the worker holds (goroutine, stack, task, consumer span, lease, timers;
// stack-bytes/inflight-job of it are goroutine stacks), without what the in-memory store grew by meanwhile (events and handles
// that production keeps in Firestore), which is store-bytes/job
// ((stopped − before) / 10,000). Issue 14's target: ≤ 16 KiB.
// Run: make bench, or go test -run '^$' -bench WorkerMemory ./pkg/worker
func BenchmarkWorkerMemory(b *testing.B) {
	var sum inflight
	for range b.N {
		m := measureInflight(b, inflightJobs)
		sum.held += m.held
		sum.stacks += m.stacks
		sum.grown += m.grown
	}
	n := float64(b.N) * inflightJobs
	b.ReportMetric(float64(sum.held)/n, "bytes/inflight-job")
	b.ReportMetric(float64(sum.stacks)/n, "stack-bytes/inflight-job")
	b.ReportMetric(float64(sum.grown)/n, "store-bytes/job")
}

// TestHeldGenerationsFitTheMemoryTarget holds issue 14's target, measured
// as BenchmarkWorkerMemory does with fewer generations: a worker polling
// generations holds at most 16 KiB for each. (Before the goroutine holding
// a message waited between polls at the top of a shallow stack, each held
// 20 KB, 16 KiB of it stack; now about 7.7 KB, 4 KiB of it stack.) Not
// parallel: it reads the process's memory.
func TestHeldGenerationsFitTheMemoryTarget(t *testing.T) {
	const n = 1_000
	m := measureInflight(t, n)
	held, stacks := float64(m.held)/n, float64(m.stacks)/n
	t.Logf("%.0f bytes/inflight-job, %.0f of them stack", held, stacks)
	require.LessOrEqual(t, held, 16_384.0, "bytes held per generation being polled")
	// 4 KiB; 8 KiB with the race detector, whose frames are deeper; a
	// few goroutines that come and go meanwhile add a little.
	require.LessOrEqual(t, stacks, 9_216.0, "the stack of a held message shrinks to 4 KiB")
}

// inflight is what one measurement found, in bytes for all the jobs: held
// by the worker (stacks: of which goroutine stacks), grown by the store.
type inflight struct{ held, stacks, grown int64 }

// measureInflight runs one measurement with n generations.
func measureInflight(tb testing.TB, n int) inflight {
	tb.Helper()
	ctx := context.Background()
	cat, err := catalog.Parse([]byte(memCatalog))
	must(tb, err)
	q := memqueue.New()
	defer q.Close()
	must(tb, queue.Provision(ctx, q, queue.Topology(cat.Names())))
	st := memstore.New()
	defer st.Close()
	be := &forever{polled: make([]atomic.Bool, n)}
	dispatchJobs(tb, q, st, cat, n)
	w, err := worker.New(worker.Config{Queue: q, Store: st, Catalog: cat, Backends: map[string]backend.Backend{"slow": be},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: time.Second,
		ReceiveOptions: queue.ReceiveOptions{MaxOutstanding: n}})
	must(tb, err)

	before := inUse()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	deadline := time.Now().Add(3 * time.Minute)
	for be.first.Load() < int64(n) {
		if time.Now().After(deadline) {
			stop()
			tb.Fatalf("%d of %d generations polled after 3 minutes", be.first.Load(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	polling := inUse()
	stop()
	must(tb, <-done)
	stopped := inUse()
	return inflight{held: polling.total() - stopped.total(), stacks: polling.stacks - stopped.stacks,
		grown: stopped.total() - before.total()}
}

// dispatchJobs creates n jobs as the router leaves them, dispatched to
// backend slow, and publishes their dispatch messages.
func dispatchJobs(tb testing.TB, q queue.Publisher, st *memstore.Store, cat *catalog.Catalog, n int) {
	tb.Helper()
	req := job.Request{Prompt: "a red fox running through snow, cinematic", DurationSeconds: 5}
	req.ApplyDefaults()
	quote, why := cat.Backend("slow").Quote(&req)
	if why != "" {
		tb.Fatal(why)
	}
	now := time.Now()
	for i := range n {
		j := job.New("job-"+strconv.Itoa(i), "dev", req, now)
		j.Attempts = []job.Attempt{{Number: 1, Backend: "slow", Model: quote.Model, Status: job.AttemptDispatched,
			EstimatedCost: quote.Estimate, StartedAt: now, DurationSeconds: quote.Seconds}}
		j.Backend, j.EstimatedCost, j.Status = "slow", quote.Estimate, job.StatusDispatched
		_, _, err := storetest.CreateJob(context.Background(), st, j)
		must(tb, err)
		_, err = dispatch.Publish(context.Background(), q, dispatch.Message{JobID: j.ID, ProjectID: j.ProjectID, Attempt: 1,
			Backend: "slow", Model: quote.Model, Seconds: quote.Seconds, Estimate: quote.Estimate})
		must(tb, err)
	}
}

// memory is the heap in use and the goroutine stacks.
type memory struct{ heap, stacks int64 }

func (m memory) total() int64 { return m.heap + m.stacks }

// inUse is the memory in use after a full collection.
func inUse() memory {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memory{heap: int64(m.HeapInuse), stacks: int64(m.StackInuse)}
}

// forever is a backend whose generations never end. It keeps no state per
// generation beyond a flag set at its first poll (allocated before the
// measurement starts): the handle names the job.
type forever struct {
	polled []atomic.Bool
	first  atomic.Int64 // generations polled at least once
}

func (f *forever) Submit(_ context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	return backend.Handle("gen-" + req.JobID), nil
}

func (f *forever) Poll(_ context.Context, h backend.Handle) (backend.Status, error) {
	if i, err := strconv.Atoi(strings.TrimPrefix(string(h), "gen-job-")); err == nil && !f.polled[i].Swap(true) {
		f.first.Add(1)
	}
	return backend.Status{State: backend.StateRunning, Progress: 0.5}, nil
}

func (f *forever) Cancel(context.Context, backend.Handle) error { return nil }

func (f *forever) PollInterval() time.Duration { return time.Second }

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
