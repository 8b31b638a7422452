package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestSafeURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://cdn.example/v.mp4?X-Amz-Signature=secret&token=abc": "https://cdn.example/v.mp4?…",
		"https://user:pass@cdn.example/v.mp4":                        "https://cdn.example/v.mp4",
		"gs://bucket/videos/j/1.mp4":                                 "gs://bucket/videos/j/1.mp4",
		"http://127.0.0.1:9/__sim/videos/x.mp4#frag":                 "http://127.0.0.1:9/__sim/videos/x.mp4",
		"%zz": "<invalid URL>",
	} {
		require.Equal(t, want, SafeURL(in), in)
	}
}

func TestTraceContextRoundTripAndLogFields(t *testing.T) {
	shutdown := Setup("test")
	defer func() { _ = shutdown(context.Background()) }()
	ctx, span, attrs := StartProducer(context.Background(), "aiprod-jobs", nil)
	span.End()
	require.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`, attrs["traceparent"])

	cctx, cspan := StartConsumer(context.Background(), "aiprod-router", "m1", attrs)
	defer cspan.End()
	require.Equal(t, TraceID(ctx), TraceID(cctx), "the consumer continues the producer's trace")
	require.NotEqual(t, SpanID(ctx), SpanID(cctx))

	var buf bytes.Buffer
	Logger(&buf, "proj", slog.LevelInfo).InfoContext(cctx, "hello", "job_id", "j1")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "INFO", line["severity"])
	require.Equal(t, "hello", line["message"])
	require.Equal(t, "projects/proj/traces/"+TraceID(cctx), line["logging.googleapis.com/trace"])
	require.Equal(t, SpanID(cctx), line["logging.googleapis.com/spanId"])
	require.Equal(t, "j1", line["job_id"])
}

func TestSetupNamesTheService(t *testing.T) {
	serviceOf := func(t *testing.T) string {
		exp := &keepingExporter{}
		shutdown := Setup("router", exp)
		_, span := Tracer().Start(context.Background(), "op")
		span.End()
		require.NoError(t, shutdown(context.Background()))
		spans := exp.spans
		require.Len(t, spans, 1)
		v, ok := spans[0].Resource().Set().Value("service.name")
		require.True(t, ok)
		return v.AsString()
	}
	require.Equal(t, "router", serviceOf(t), "the service's own name by default")
	t.Setenv("OTEL_SERVICE_NAME", "aiprod-router-eu")
	require.Equal(t, "aiprod-router-eu", serviceOf(t), "OTEL_SERVICE_NAME wins")
}

// keepingExporter keeps what it exports, also after Shutdown.
type keepingExporter struct{ spans []sdktrace.ReadOnlySpan }

func (e *keepingExporter) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	e.spans = append(e.spans, s...)
	return nil
}

func (e *keepingExporter) Shutdown(context.Context) error { return nil }
