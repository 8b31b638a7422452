package telemetry

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/aiprod/aiprod/pkg/queue"
)

// publisherFunc is a queue.Publisher of a function.
type publisherFunc func(ctx context.Context, topic string, m queue.Message) (string, error)

func (f publisherFunc) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	return f(ctx, topic, m)
}

// recordSpans installs a tracer provider recording ended spans until the
// test ends.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagator)
	t.Cleanup(func() { otel.SetTracerProvider(tracenoop.NewTracerProvider()) })
	return rec
}

// TestTracedPublisherSpan pins the producer span of a publish: its name,
// kind, parent, attributes in order (the messaging conventions, then the
// ids the message names, then the message id), a link asked for with
// WithLinks, and on failure the error; the message carries the span's
// context and the caller's attributes are left as they were.
func TestTracedPublisherSpan(t *testing.T) {
	rec := recordSpans(t)
	parentCtx, parent := Tracer().Start(context.Background(), "parent")
	_, other := Tracer().Start(context.Background(), "other trace")
	attrs := map[string]string{queue.AttrJobID: "j-1", queue.AttrProjectID: "p", queue.AttrBackend: "luma", queue.AttrAttempt: "2"}
	var sent queue.Message
	ok := publisherFunc(func(_ context.Context, _ string, m queue.Message) (string, error) { sent = m; return "m-7", nil })
	ctx := WithLinks(parentCtx, trace.LinkFromContext(trace.ContextWithSpan(context.Background(), other)))
	id, err := Traced(ok).Publish(ctx, "aiprod-dispatch-luma", queue.Message{Data: []byte("x"), Attributes: attrs})
	require.NoError(t, err)
	require.Equal(t, "m-7", id)
	failing := publisherFunc(func(context.Context, string, queue.Message) (string, error) { return "", errors.New("down") })
	_, err = Traced(failing).Publish(parentCtx, "aiprod-events", queue.Message{Data: []byte("x"),
		Attributes: map[string]string{queue.AttrJobID: "j-1", queue.AttrProjectID: "p"}})
	require.Error(t, err)
	parent.End()

	spans := rec.Ended()
	require.Len(t, spans, 3)
	sendOK, sendFailed := spans[0], spans[1]
	assert.Equal(t, "send aiprod-dispatch-luma", sendOK.Name())
	assert.Equal(t, trace.SpanKindProducer, sendOK.SpanKind())
	assert.Equal(t, parent.SpanContext().SpanID(), sendOK.Parent().SpanID())
	assert.Equal(t, []attribute.KeyValue{
		AttrMessagingSystem.String("gcp_pubsub"), AttrMessagingDestination.String("aiprod-dispatch-luma"),
		AttrMessagingOperation.String("send"), AttrJobID.String("j-1"), AttrProjectID.String("p"),
		AttrBackend.String("luma"), AttrAttempt.Int(2), AttrMessageID.String("m-7"),
	}, sendOK.Attributes())
	require.Len(t, sendOK.Links(), 1)
	assert.Equal(t, other.SpanContext().SpanID(), sendOK.Links()[0].SpanContext.SpanID())
	assert.Equal(t, codes.Unset, sendOK.Status().Code)

	assert.Equal(t, []attribute.KeyValue{
		AttrMessagingSystem.String("gcp_pubsub"), AttrMessagingDestination.String("aiprod-events"),
		AttrMessagingOperation.String("send"), AttrJobID.String("j-1"), AttrProjectID.String("p"),
	}, sendFailed.Attributes())
	assert.Equal(t, codes.Error, sendFailed.Status().Code)
	require.Len(t, sendFailed.Events(), 1, "the error is recorded")

	assert.Len(t, attrs, 4, "the caller's attributes are not changed")
	assert.Equal(t, "luma", sent.Attributes[queue.AttrBackend])
	sc := trace.SpanContextFromContext(Extract(context.Background(), sent.Attributes))
	assert.Equal(t, sendOK.SpanContext().SpanID(), sc.SpanID(), "the message carries the producer span's context")
}

// TestConsumerSpanContinuesTheTrace pins StartConsumer's span: the
// message's trace continued, the messaging attributes then the caller's.
func TestConsumerSpanContinuesTheTrace(t *testing.T) {
	rec := recordSpans(t)
	pctx, producer, attrs := StartProducer(context.Background(), "aiprod-jobs", nil)
	producer.End()
	_, span := StartConsumer(context.Background(), "aiprod-router", "m-1", attrs, AttrJobID.String("j-1"))
	span.End()
	spans := rec.Ended()
	require.Len(t, spans, 2)
	c := spans[1]
	assert.Equal(t, "process aiprod-router", c.Name())
	assert.Equal(t, trace.SpanKindConsumer, c.SpanKind())
	assert.Equal(t, TraceID(pctx), c.SpanContext().TraceID().String())
	assert.Equal(t, []attribute.KeyValue{
		AttrMessagingSystem.String("gcp_pubsub"), AttrMessagingSubscription.String("aiprod-router"),
		AttrMessagingOperation.String("process"), AttrMessageID.String("m-1"), AttrJobID.String("j-1"),
	}, c.Attributes())
	assert.Equal(t, []attribute.KeyValue{
		AttrMessagingSystem.String("gcp_pubsub"), AttrMessagingDestination.String("aiprod-jobs"),
		AttrMessagingOperation.String("send"),
	}, spans[0].Attributes())
}

// Publish is Traced(p).Publish: one producer span, also when p is traced
// already.
func TestPublishIsTracedOnce(t *testing.T) {
	rec := recordSpans(t)
	var sent queue.Message
	p := publisherFunc(func(_ context.Context, _ string, m queue.Message) (string, error) { sent = m; return "m-1", nil })
	for _, pub := range []queue.Publisher{p, Traced(p)} {
		id, err := Publish(context.Background(), pub, "aiprod-events", queue.Message{Data: []byte("x")})
		require.NoError(t, err)
		require.Equal(t, "m-1", id)
		require.NotEmpty(t, sent.Attributes[queue.AttrTraceParent])
	}
	require.Len(t, rec.Ended(), 2)
	for _, s := range rec.Ended() {
		assert.Equal(t, "send aiprod-events", s.Name())
	}
}
