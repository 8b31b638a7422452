package test

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/sim"
)

// collector is an in-test OTLP/gRPC collector: it keeps every span it is
// sent and accepts (and drops) metrics.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	addr  string
}

func (c *collector) Export(_ context.Context, r *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range r.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsSink struct {
	colmetricpb.UnimplementedMetricsServiceServer
}

func (metricsSink) Export(context.Context, *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &collector{addr: lis.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	colmetricpb.RegisterMetricsServiceServer(srv, metricsSink{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return c
}

// trace returns the spans of trace id (hex).
func (c *collector) trace(id string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if hex.EncodeToString(s.GetTraceId()) == id {
			out = append(out, s)
		}
	}
	return out
}

// traceShape says whether spans form one connected tree (one root, every
// other span's parent among them), how many consumer spans of the router
// there are, and how many provider CLIENT spans.
func traceShape(spans []*tracepb.Span) (connected bool, routerSpans, providerSpans int) {
	ids := map[string]bool{}
	for _, s := range spans {
		ids[hex.EncodeToString(s.GetSpanId())] = true
	}
	roots := 0
	connected = true
	for _, s := range spans {
		switch p := hex.EncodeToString(s.GetParentSpanId()); {
		case p == "":
			roots++
		case !ids[p]:
			connected = false
		}
		if s.GetName() == "process aiprod-router" {
			routerSpans++
		}
		if s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
			for _, kv := range s.GetAttributes() {
				if kv.GetKey() == "aiprod.provider" {
					providerSpans++
				}
			}
		}
	}
	return connected && roots == 1, routerSpans, providerSpans
}

// TestMultiProcessTracesReachACollector runs the services as processes
// exporting over OTLP to an in-test collector: each job is one connected
// trace, from the API to the provider calls, across a reroute.
func TestMultiProcessTracesReachACollector(t *testing.T) {
	t.Parallel()
	col := startCollector(t)
	st := startStack(t, stackConfig{Routers: 1, Workers: 1, SimSpeed: 0.2, Env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + col.addr, "OTEL_EXPORTER_OTLP_INSECURE=true",
		"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_METRIC_EXPORT_INTERVAL=1000",
	}})
	ctx := context.Background()

	// The job may go to two backends; the one routing picks first is down,
	// so the job is rerouted to the other.
	req := job.Request{Prompt: "a traced fox", DurationSeconds: 5}
	req.ApplyDefaults()
	d := routing.Decide(routing.Input{Request: req, Catalog: st.sims.Catalog, Now: time.Now()})
	require.GreaterOrEqual(t, len(d.Candidates), 2)
	first, second := d.Candidates[0].Backend, d.Candidates[1].Backend
	req.Backends = []string{first, second}
	st.sims.Sims[first].Core.SetFaults(sim.Faults{Down: true})

	rerouted, err := st.client.Submit(ctx, req, client.SubmitOptions{})
	require.NoError(t, err)
	plain, err := st.client.Submit(ctx, job.Request{Prompt: "a plain fox", DurationSeconds: 5, Backends: []string{second}}, client.SubmitOptions{})
	require.NoError(t, err)
	deadline, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, j := range []*client.Job{rerouted, plain} {
		got, err := st.client.Wait(deadline, j.ID, 100*time.Millisecond, nil)
		require.NoError(t, err)
		require.Equal(t, job.StatusSucceeded, got.Status, "job %s: %+v", j.ID, got.Attempts)
		require.Equal(t, second, got.Backend)
	}
	wantRouter := map[string]int{rerouted.ID: 2, plain.ID: 1}
	for _, j := range []*client.Job{rerouted, plain} {
		var connected bool
		var router, provider int
		assert.Eventually(t, func() bool {
			connected, router, provider = traceShape(col.trace(j.TraceID))
			return connected && router >= wantRouter[j.ID] && provider >= 2
		}, 30*time.Second, 100*time.Millisecond,
			"job %s: trace %s connected=%v, router spans %d (want %d), provider spans %d", j.ID, j.TraceID, connected, router, wantRouter[j.ID], provider)
		t.Logf("job %s: %d spans in one connected trace, %d router deliveries, %d provider calls",
			j.ID[:8], len(col.trace(j.TraceID)), router, provider)
	}
}
