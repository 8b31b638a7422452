package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// GET /v1/jobs/{id}/spans serves the kept spans of the job's trace to its
// project only, and exists only where spans are kept.
func TestJobSpans(t *testing.T) {
	t.Parallel()
	store := telemetry.NewSpanStore(0)
	e := setup(t, func(c *api.Config) { c.Spans = store })
	r := e.do(http.MethodPost, "/v1/jobs", keyA, `{"prompt":"a fox","duration_seconds":5}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	j := decode[client.Job](t, r)

	tid, err := trace.TraceIDFromHex(j.TraceID)
	require.NoError(t, err)
	tr := sdktrace.NewTracerProvider(sdktrace.WithSyncer(store)).Tracer("github.com/aiprod/aiprod")
	ctx := trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
	_, sp := tr.Start(ctx, "process aiprod-router", trace.WithSpanKind(trace.SpanKindConsumer))
	sp.End()

	r = e.do(http.MethodGet, "/v1/jobs/"+j.ID+"/spans", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	spans := decode[client.SpanList](t, r).Spans
	require.Len(t, spans, 1)
	require.Equal(t, "process aiprod-router", spans[0].Name)
	require.Equal(t, "consumer", spans[0].Kind)
	require.Equal(t, trace.SpanID{1}.String(), spans[0].ParentSpanID)
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/jobs/"+j.ID+"/spans", keyB, "").status, "another project's job")

	plain := setup(t)
	require.Equal(t, http.StatusNotFound, plain.do(http.MethodGet, "/v1/jobs/"+j.ID+"/spans", keyA, "").status, "no route without kept spans")
}
