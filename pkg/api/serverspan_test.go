package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/client"
)

// A request's server span: named after its route, kind server, and its
// attributes in order (method and path from the start, the job and project
// from the handler, then route and status; the project set again at the
// end is the same value, which the SDK keeps once). Not parallel: it swaps
// the global tracer provider.
func TestServerSpanOfCreateJob(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	e := setup(t)
	r := e.do(http.MethodPost, "/v1/jobs", keyA, validBody)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	j := decode[client.Job](t, r)

	var server []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			server = append(server, s)
		}
	}
	require.Len(t, server, 1)
	s := server[0]
	assert.Equal(t, "POST /v1/jobs", s.Name())
	assert.Equal(t, []attribute.KeyValue{
		attribute.String("http.request.method", "POST"), attribute.String("url.path", "/v1/jobs"),
		attribute.String("aiprod.job_id", j.ID), attribute.String("aiprod.project_id", projectA),
		attribute.String("http.route", "POST /v1/jobs"), attribute.Int("http.response.status_code", http.StatusAccepted),
	}, s.Attributes())
}
