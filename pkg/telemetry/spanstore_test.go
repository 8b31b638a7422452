package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/aiprod/aiprod/pkg/telemetry"
)

func TestSpanStoreKeepsTheNewestSpansByTrace(t *testing.T) {
	t.Parallel()
	store := telemetry.NewSpanStore(3)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(store))
	tr := tp.Tracer("test")
	ctx, a := tr.Start(context.Background(), "a")
	_, b := tr.Start(ctx, "b")
	b.End()
	a.End()
	_, other := tr.Start(context.Background(), "other")
	other.End()
	first := a.SpanContext().TraceID().String()
	require.Len(t, store.Trace(first), 2)
	require.Equal(t, "b", store.Trace(first)[0].Name(), "in the order they ended")
	require.Len(t, store.Trace(other.SpanContext().TraceID().String()), 1)

	_, c := tr.Start(ctx, "c") // a fourth span: the oldest (b) goes
	c.End()
	names := []string{}
	for _, s := range store.Trace(first) {
		names = append(names, s.Name())
	}
	require.Equal(t, []string{"a", "c"}, names)
	require.Empty(t, store.Trace("0123456789abcdef0123456789abcdef"))
}
