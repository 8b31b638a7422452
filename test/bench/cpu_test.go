package bench_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// batch is how many jobs are in the pipeline at once: under the
// concurrency of the backend the request routes to, so that no job waits
// for a slot.
const batch = 8

// BenchmarkPipelineCPU measures the process CPU time (user + system) per
// job through the whole pipeline on the in-memory ports: POST /v1/jobs on
// the API's handler (auth, validation, job and event written, published),
// the router (health, routing, budget reservation, dispatch published), the
// worker (slot, intent, submit, handle, poll, outcome, slot released,
// lifecycle event published) and a reader of the lifecycle event, with an
// instant backend and telemetry on as in the services (exported nowhere).
// Jobs go in batches of 8, each batch waited for.
//
// It reports cpu-µs/job, bare-cpu-µs/job (the same jobs as messages through
// a bare three-hop pipeline on the same memory queue: publish → receive →
// publish → receive → publish → receive, ack, doing nothing else) and
// x-bare, their ratio. Issue 14's targets: ≤ 150 µs and ≤ 2×.
// Run: make bench, or go test -run '^$' -bench PipelineCPU ./test/bench
func BenchmarkPipelineCPU(b *testing.B) {
	st := memstore.New()
	b.Cleanup(func() { _ = st.Close() })
	p := newPipeline(b, st)
	p.submit(b, batch, prompt) // warm: API key cached, slots and budget documents exist
	bare := newBarePipeline(b)
	bare.run(b, batch)

	b.ResetTimer()
	start := processCPU()
	for done := 0; done < b.N; done += batch {
		p.submit(b, min(batch, b.N-done), prompt)
	}
	full := processCPU() - start
	b.StopTimer()
	start = processCPU()
	for done := 0; done < b.N; done += batch {
		bare.run(b, min(batch, b.N-done))
	}
	bareCPU := processCPU() - start

	b.ReportMetric(micros(full)/float64(b.N), "cpu-µs/job")
	b.ReportMetric(micros(bareCPU)/float64(b.N), "bare-cpu-µs/job")
	b.ReportMetric(float64(full)/float64(max(bareCPU, 1)), "x-bare")
}

// barePipeline relays messages over three topics of a memory queue as the
// pipeline's three hops do, doing no work.
type barePipeline struct {
	q    *memqueue.Queue
	done chan struct{}
}

var bareTopics = []string{"bare-ingest", "bare-dispatch", "bare-events"}

func newBarePipeline(b *testing.B) *barePipeline {
	b.Helper()
	p := &barePipeline{q: memqueue.New(), done: make(chan struct{}, batch)}
	b.Cleanup(func() { _ = p.q.Close() })
	var hops []func(context.Context) error
	for i, topic := range bareTopics {
		must(b, queue.Provision(context.Background(), p.q, []queue.SubscriptionConfig{
			{Name: topic + "-sub", Topic: topic, AckDeadline: queue.AckDeadlineDefault}}))
		hops = append(hops, func(ctx context.Context) error {
			return p.q.Receive(ctx, topic+"-sub", queue.ReceiveOptions{}, func(ctx context.Context, m *queue.Message) {
				if i+1 < len(bareTopics) {
					if _, err := p.q.Publish(ctx, bareTopics[i+1], queue.Message{Data: m.Data, Attributes: m.Attributes}); err != nil {
						return // nacked: delivered again
					}
				}
				m.Ack()
				if i+1 == len(bareTopics) {
					p.done <- struct{}{}
				}
			})
		})
	}
	runUntilCleanup(b, hops...)
	return p
}

// run sends n messages through the three hops and waits for them.
func (p *barePipeline) run(b *testing.B, n int) {
	b.Helper()
	body := []byte(`{"prompt":"` + prompt + `","duration_seconds":5}`)
	for i := range n {
		_, err := p.q.Publish(context.Background(), bareTopics[0], queue.Message{Data: body,
			Attributes: map[string]string{queue.AttrJobID: strconv.Itoa(i), queue.AttrProjectID: project}})
		must(b, err)
	}
	for range n {
		<-p.done
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
