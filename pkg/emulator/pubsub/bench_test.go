package pubsubemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
)

// backlog is BenchmarkEmulatorBacklog's size: messages published before
// they are received.
const backlog = 20000

// benchServerEnv makes the test binary serve an emulator ("aiprod" or
// "pstest") instead of running tests, so that the benchmark measures the
// emulator's own process: it prints "ADDR <address>", serves until its
// stdin closes, then prints "PEAK <peak RSS bytes> <peak heap bytes>".
const benchServerEnv = "AIPROD_PUBSUBEMU_BENCH_SERVER"

// benchServers are the emulators BenchmarkEmulatorBacklog measures, by
// name: this package's, and with the build tag pstest (bench_pstest_test.go)
// the one it replaced, for the figures before.
var benchServers = map[string]func() (addr string, close func() error, err error){
	"aiprod": func() (string, func() error, error) {
		s, err := Serve("127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		return s.Addr, s.Close, nil
	},
}

// BenchmarkEmulatorBacklog publishes 20,000 messages to a subscription with
// a dead-letter policy and a retry policy (as AIPROD's topology has), then
// receives and acks them through gcppubsub with MaxOutstanding 100, against
// the emulator in a process of its own. It reports msgs/s over both phases,
// each phase's rate, and the emulator process's peak RSS and Go heap.
// -tags pstest adds pstest (before; about 5 minutes on 2 cores). The drain
// is bounded by the client at about 1,000 msgs/s: it sends acks every
// 100 ms, and the server, like Pub/Sub, counts a message against the
// stream's 100 outstanding until its ack arrives.
func BenchmarkEmulatorBacklog(b *testing.B) {
	for _, kind := range slices.Sorted(maps.Keys(benchServers)) {
		b.Run(kind, func(b *testing.B) {
			child := startBenchServer(b, kind)
			ctx := context.Background()
			q, err := gcppubsub.New(ctx, "bench", clientOptions(child.addr)...)
			require.NoError(b, err)
			var pub, drain time.Duration
			n := 0
			for b.Loop() {
				p, d := runBacklog(b, q, fmt.Sprintf("b%d", n))
				pub, drain, n = pub+p, drain+d, n+1
			}
			require.NoError(b, q.Close())
			rss, heap := child.stop(b)
			msgs := float64(n * backlog)
			b.ReportMetric(msgs/(pub+drain).Seconds(), "msgs/s")
			b.ReportMetric(msgs/pub.Seconds(), "publish-msgs/s")
			b.ReportMetric(msgs/drain.Seconds(), "drain-msgs/s")
			b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
			b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		})
	}
}

// runBacklog publishes the backlog to a new topic and subscription named
// after prefix, then receives and acks all of it.
func runBacklog(b *testing.B, q *gcppubsub.Queue, prefix string) (publish, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topic := prefix + "-jobs"
	require.NoError(b, queue.Provision(ctx, q, []queue.SubscriptionConfig{{
		Name: prefix + "-router", Topic: topic, AckDeadline: 60 * time.Second,
		DeadLetterTopic: queue.DeadLetterTopic(topic), MaxDeliveryAttempts: 10,
		MinBackoff: time.Second, MaxBackoff: time.Minute,
	}}))
	data := []byte(`{"job_id":"5f0c6a1e-9b1f-4c1e-8f3a-2f0d7c9e4b11","project_id":"dev","attempt":1,` +
		`"backend":"runway","estimate_micros":250000,"request":{"prompt":"a red fox running through snow, cinematic",` +
		`"duration_seconds":5,"resolution":"720p","aspect_ratio":"16:9","quality_tier":"standard"}}`)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= backlog; i = next.Add(1) {
				_, err := q.Publish(ctx, topic, queue.Message{Data: data, Attributes: map[string]string{
					queue.AttrJobID: strconv.FormatInt(i, 10), queue.AttrProjectID: "dev",
					queue.AttrTraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	publish = time.Since(start)

	start = time.Now()
	var mu sync.Mutex
	seen := make(map[string]bool, backlog)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	err := q.Receive(rctx, prefix+"-router", queue.ReceiveOptions{MaxOutstanding: 100}, func(_ context.Context, m *queue.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if seen[m.ID] = true; len(seen) == backlog {
			stop()
		}
	})
	require.NoError(b, err)
	require.Len(b, seen, backlog, "every message received")
	return publish, time.Since(start)
}

// benchChild is an emulator process of the benchmark.
type benchChild struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startBenchServer(b *testing.B, kind string) *benchChild {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+kind)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	c := &benchChild{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	require.True(b, c.out.Scan(), "the %s server's address", kind)
	addr, ok := strings.CutPrefix(c.out.Text(), "ADDR ")
	require.True(b, ok, "got %q", c.out.Text())
	c.addr = addr
	return c
}

// stop ends the child and returns its peak RSS and peak Go heap.
func (c *benchChild) stop(b *testing.B) (rss, heap int64) {
	require.NoError(b, c.stdin.Close())
	require.True(b, c.out.Scan(), "the server's peaks")
	_, err := fmt.Sscanf(c.out.Text(), "PEAK %d %d", &rss, &heap)
	require.NoError(b, err, "got %q", c.out.Text())
	require.NoError(b, c.cmd.Wait())
	return rss, heap
}

// benchServer is the child's main: it serves kind until stdin closes.
func benchServer(kind string) int {
	start := benchServers[kind]
	if start == nil {
		fmt.Fprintf(os.Stderr, "%s: unknown emulator %q\n", benchServerEnv, kind)
		return 2
	}
	addr, closeFn, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go samplePeakHeap(&peak, done)
	fmt.Printf("ADDR %s\n", addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	close(done)
	_ = closeFn()
	fmt.Printf("PEAK %d %d\n", peakRSS(), peak.Load())
	return 0
}

// samplePeakHeap records the largest live Go heap seen, every 20ms.
func samplePeakHeap(peak *atomic.Int64, done <-chan struct{}) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := int64(s[0].Value.Uint64()); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// peakRSS is this process's peak resident set size (Linux; 0 elsewhere).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkHeldMessage reports what held messages cost the emulator's Go
// heap: per message held by one subscription (a 300-byte message with
// three attributes, which the topic's subscriptions share, plus one
// subscription's bookkeeping), and what each further subscription of the
// topic adds per message.
func BenchmarkHeldMessage(b *testing.B) {
	const n = 100000
	cfg := subConfig{ackDeadline: ackDeadlineDefault, retention: retentionDefault}
	for b.Loop() {
		st := newState(time.Now)
		t := &topic{}
		first := newSubscription(st, t, &pubsubpb.Subscription{Name: subName("held")}, cfg)
		t.subs = []*subscription{first}
		base := heapNow()
		publishN(st, t, n)
		one := heapNow()
		second := newSubscription(st, t, &pubsubpb.Subscription{Name: subName("held")}, cfg)
		t.subs = []*subscription{first, second}
		publishN(st, t, n)
		two := heapNow()
		perMsg := float64(one-base) / n
		b.ReportMetric(perMsg, "bytes/held-msg")
		b.ReportMetric(float64(two-one)/n-perMsg, "bytes/extra-sub")
		first.close()
		second.close()
	}
}

// publishN publishes n messages of 300 bytes with three attributes.
func publishN(st *state, t *topic, n int) {
	for range n / 100 {
		msgs := make([]*pubsubpb.PubsubMessage, 100)
		for i := range msgs {
			msgs[i] = &pubsubpb.PubsubMessage{Data: make([]byte, 300), Attributes: map[string]string{
				"job_id": "5f0c6a1e-9b1f-4c1e-8f3a-2f0d7c9e4b11", "project_id": "dev",
				"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			}}
		}
		st.publish(t, msgs)
	}
}

// heapNow is the live Go heap after a collection.
func heapNow() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
