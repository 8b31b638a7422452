package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/worker"
)

// TestMain sets telemetry up as the services do (spans sampled and
// recorded, metrics on the SDK with its Prometheus reader), exported
// nowhere, and checks that no goroutine outlives the benchmarks (with
// goleak directly: pkg/internal/leak is out of test/'s reach; the one
// goroutine it ignores that can start here is OpenCensus's, started at init
// by the Firestore client).
func TestMain(m *testing.M) {
	shutdown := telemetry.Setup("bench")
	stopMetrics, err := telemetry.SetupMetrics("bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = stopMetrics(context.Background())
	_ = shutdown(context.Background())
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Credentials and request of the benchmarks.
const (
	apiKey  = "bench-key-0123456789"
	project = "bench"
	// failoverPrompt makes the instant backend refuse a job's first
	// attempt: the job fails over once, then succeeds.
	failoverPrompt = "fail over once: a red fox running through snow"
	prompt         = "a red fox running through snow, cinematic"
)

// instant is a backend whose generations end at once: Submit answers a
// handle, the first Poll a finished video. It refuses the first attempt of
// a job whose prompt is failoverPrompt with a retryable error (a 503).
type instant struct{}

func (instant) Submit(_ context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	if req.Prompt == failoverPrompt && req.Attempt == 1 {
		return "", errclass.New(errclass.Retryable, "503 service unavailable (benchmark)")
	}
	return backend.Handle(req.JobID + "/" + fmt.Sprint(req.Attempt)), nil
}

func (instant) Poll(_ context.Context, h backend.Handle) (backend.Status, error) {
	return backend.Status{State: backend.StateSucceeded, VideoURL: "https://videos.example.com/" + string(h) + ".mp4"}, nil
}

func (instant) Cancel(context.Context, backend.Handle) error { return nil }

// PollInterval: the first poll follows the submit at once.
func (instant) PollInterval() time.Duration { return time.Nanosecond }

// countingQueue is the memory queue counting publishes by topic.
type countingQueue struct {
	*memqueue.Queue
	mu      sync.Mutex
	byTopic map[string]int
}

func newCountingQueue() *countingQueue {
	return &countingQueue{Queue: memqueue.New(), byTopic: map[string]int{}}
}

func (q *countingQueue) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	q.mu.Lock()
	q.byTopic[topic]++
	q.mu.Unlock()
	return q.Queue.Publish(ctx, topic, m)
}

// publishes returns the publishes counted so far, by topic, and reset them.
func (q *countingQueue) publishes() (total int, byTopic map[string]int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	byTopic, q.byTopic = q.byTopic, map[string]int{}
	for _, n := range byTopic {
		total += n
	}
	return total, byTopic
}

// topology is the production topology without the operator alerts'
// subscription: no notifier reads it here, and the memory queue would
// keep (and scan at every lease) every event published to it.
func topology(cat *catalog.Catalog) []queue.SubscriptionConfig {
	var out []queue.SubscriptionConfig
	for _, s := range queue.Topology(cat.Names()) {
		if s.Name != queue.SubscriptionAlerts {
			out = append(out, s)
		}
	}
	return out
}

// pipeline is the ingest API, a router and a worker (every backend of the
// default catalog served by instant) on one queue and one store, plus a
// reader of the lifecycle events that stands for the notifier.
type pipeline struct {
	q       *countingQueue
	handler http.Handler
	ended   chan dispatch.Lifecycle
}

// newPipeline starts a pipeline on st; it stops when the benchmark ends.
// Circuits never open (the failover benchmark fails one backend over and
// over): a failure is a strike written, as always, but not a trip.
func newPipeline(b *testing.B, st store.Store) *pipeline {
	b.Helper()
	ctx := context.Background()
	cat := catalog.Default()
	p := &pipeline{q: newCountingQueue(), ended: make(chan dispatch.Lifecycle, 1024)}
	must(b, queue.Provision(ctx, p.q, topology(cat)))
	must(b, api.SeedAPIKey(ctx, st, apiKey, project, time.Now()))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cb := circuit.Config{FailureThreshold: 1 << 30}
	srv, err := api.New(api.Config{Store: st, Queue: p.q, Catalog: cat, Logger: log})
	must(b, err)
	p.handler = srv.Handler()
	rt, err := router.New(router.Config{Queue: p.q, Store: st, Catalog: cat, Logger: log, Circuit: cb})
	must(b, err)
	backends := map[string]backend.Backend{}
	for _, n := range cat.Names() {
		backends[n] = instant{}
	}
	wk, err := worker.New(worker.Config{Queue: p.q, Store: st, Backends: backends, Catalog: cat, Logger: log, Circuit: cb})
	must(b, err)
	runUntilCleanup(b, rt.Run, wk.Run, p.readEvents)
	return p
}

// readEvents passes every terminal lifecycle event to p.ended.
func (p *pipeline) readEvents(ctx context.Context) error {
	return p.q.Receive(ctx, queue.SubscriptionEvents, queue.ReceiveOptions{}, func(ctx context.Context, m *queue.Message) {
		ev, err := dispatch.DecodeLifecycle(m.Data)
		m.Ack()
		if err == nil && ev.Status.Terminal() && m.Attr(queue.AttrEventType) == "" {
			select {
			case p.ended <- ev:
			case <-ctx.Done():
			}
		}
	})
}

// submit posts n jobs of prompt to the API, then waits until each has
// ended; every one must succeed.
func (p *pipeline) submit(b *testing.B, n int, prompt string) {
	b.Helper()
	body := `{"prompt":"` + prompt + `","duration_seconds":5}`
	for range n {
		r := httptest.NewRequest(http.MethodPost, "/v1/jobs", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+apiKey)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		p.handler.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("POST /v1/jobs: %d %s", w.Code, w.Body)
		}
	}
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for range n {
		select {
		case ev := <-p.ended:
			if ev.Status != job.StatusSucceeded {
				b.Fatalf("job %s ended %s: %+v", ev.JobID, ev.Status, ev.Error)
			}
		case <-timeout.C:
			b.Fatal("jobs not finished within a minute")
		}
	}
}

// runUntilCleanup runs each function in a goroutine until the benchmark
// ends, then cancels them and checks that they returned nil.
func runUntilCleanup(b *testing.B, fns ...func(context.Context) error) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, fn := range fns {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				failed.Store(err)
			}
		})
	}
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Error(err)
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
