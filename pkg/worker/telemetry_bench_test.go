package worker_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/worker"
)

// BenchmarkPipelineTelemetry measures the process CPU time per job through
// router and worker (memory queue and store, instant fake providers) with
// telemetry off (no-op tracer and meter) and on (the SDK recording every
// span and metric). Issue 11's target: on costs under 10% more CPU per job.
// Run: make bench, or go test -run '^$' -bench PipelineTelemetry ./pkg/worker
func BenchmarkPipelineTelemetry(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) { benchPipeline(b, on) })
	}
}

func benchPipeline(b *testing.B, on bool) {
	var rec *metrics.Recorder
	if on {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		otel.SetTracerProvider(tp)
		rec = metrics.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	} else {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		rec = metrics.New(noop.NewMeterProvider())
	}
	defer otel.SetTracerProvider(tracenoop.NewTracerProvider())
	e := setup(b)
	r, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: e.cat, Logger: e.log, Now: e.clock.Now,
		HealthCacheTTL: time.Second, Metrics: rec})
	if err != nil {
		b.Fatal(err)
	}
	run(b, r)
	run(b, e.newWorker(b, func(c *worker.Config) { c.Metrics = rec; c.SlotWait = time.Minute }))
	ingest := jobwrite.New(jobwrite.Config{Store: e.st, Now: e.clock.Now, Metrics: rec})
	req := request(b, "a fox")

	const batch = 20
	b.ResetTimer()
	start := cpuTime()
	for done := 0; done < b.N; done += batch {
		var ids []string
		for range min(batch, b.N-done) {
			j, _, err := ingest.Create(context.Background(), job.New("", "dev", req, e.clock.Now()))
			if err != nil {
				b.Fatal(err)
			}
			e.publishJob(b, context.Background(), j)
			ids = append(ids, j.ID)
		}
		for _, id := range ids {
			e.wait(b, id, terminal)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/job")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
