package providerhttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
)

// Every provider call is a CLIENT span in the caller's trace naming the
// provider, the operation and the status, with the URL stripped of its
// query and no credential anywhere; the provider gets no trace header.
func TestDoIsAClientSpan(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "worker")
	s := newServer(t, http.StatusServiceUnavailable, nil, `{"error":"busy"}`)
	c := client(s)
	c.Tracer = tp.Tracer("providerhttp")
	_, err := c.Do(ctx, providerhttp.Request{Method: http.MethodGet, URL: s.URL + "/tasks/1?sig=" + secret, Op: "get task 1"})
	require.NoError(t, err)
	parent.End()

	var span sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			span = sp
		}
	}
	require.NotNil(t, span, "a client span")
	assert.Equal(t, "HTTP GET acme", span.Name())
	assert.Equal(t, parent.SpanContext().TraceID(), span.SpanContext().TraceID(), "in the caller's trace")
	attrs := map[string]string{}
	for _, kv := range span.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
		assert.NotContains(t, kv.Value.String(), secret, kv.Key)
	}
	assert.Equal(t, "acme", attrs["aiprod.provider"])
	assert.Equal(t, "get task 1", attrs["aiprod.operation"])
	assert.Equal(t, "503", attrs["http.response.status_code"])
	assert.True(t, strings.HasSuffix(attrs["url.full"], "/tasks/1?…"), attrs["url.full"])
	assert.Equal(t, "Error", span.Status().Code.String())
	last, _ := s.request()
	assert.Empty(t, last.Header.Get("traceparent"), "no trace context is sent to a provider")
}
