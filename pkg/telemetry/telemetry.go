// Package telemetry sets up OpenTelemetry tracing and structured logging for
// AIPROD's services, and carries trace context through Pub/Sub messages.
//
// # One trace per job
//
// Ingest starts a job's trace; every message about the job carries the W3C
// trace context in its attributes (traceparent, tracestate), and every
// consumer continues that trace, so ingest, router, worker and notifier spans
// share the job's trace id, which is stored on the job as trace_id.
//
// # Logs
//
// Logger returns a log/slog JSON logger for Cloud Logging: "severity"
// instead of "level", "message" instead of "msg", and, when the context
// holds a span, "logging.googleapis.com/trace" and
// "logging.googleapis.com/spanId" so logs link to traces.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sync/atomic"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation scope of every AIPROD span.
const scope = "github.com/aiprod/aiprod"

// Messaging semantic-convention attribute keys.
const (
	AttrMessagingSystem       = attribute.Key("messaging.system")
	AttrMessagingDestination  = attribute.Key("messaging.destination.name")
	AttrMessagingOperation    = attribute.Key("messaging.operation.type")
	AttrMessageID             = attribute.Key("messaging.message.id")
	AttrMessagingSubscription = attribute.Key("messaging.destination.subscription.name")
	AttrDeliveryAttempt       = attribute.Key("messaging.gcp_pubsub.message.delivery_attempt")
	AttrJobID                 = attribute.Key("aiprod.job_id")
	AttrProjectID             = attribute.Key("aiprod.project_id")
	AttrBackend               = attribute.Key("aiprod.backend")
	AttrAttempt               = attribute.Key("aiprod.attempt")
)

// Tracer returns AIPROD's tracer from the global provider. The tracer is
// looked up once per provider installed (otel.SetTracerProvider), not at
// every span: the SDK's lookup takes a lock and hashes the scope.
func Tracer() trace.Tracer {
	tp := otel.GetTracerProvider()
	if c := tracerOf.Load(); c != nil && c.comparable && sameProvider(c.tp, tp) {
		return c.t
	}
	t := tp.Tracer(scope)
	tracerOf.Store(&cachedTracer{tp: tp, t: t, comparable: reflect.TypeOf(tp).Comparable()})
	return t
}

// cachedTracer is the tracer of provider tp; comparable says whether tp can
// be compared with == (a provider of a non-comparable type is never reused).
type cachedTracer struct {
	tp         trace.TracerProvider
	t          trace.Tracer
	comparable bool
}

var tracerOf atomic.Pointer[cachedTracer]

// sameProvider compares a comparable cached provider with tp; == on
// interfaces panics only when both hold the same non-comparable type,
// which the cached one's comparable flag rules out.
func sameProvider(cached, tp trace.TracerProvider) bool { return cached == tp }

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Setup installs a tracer provider and the W3C propagator globally and
// returns a shutdown function that flushes spans. Spans are exported with
// the exporters given (none: spans are still created, so trace ids exist,
// but go nowhere).
//
// Spans carry the resource attribute service.name = serviceName, unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
func Setup(serviceName string, exporters ...sdktrace.SpanExporter) func(context.Context) error {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(serviceResource(serviceName)),
	}
	for _, e := range exporters {
		if _, inMemory := e.(*SpanStore); inMemory {
			opts = append(opts, sdktrace.WithSyncer(e)) // readable as soon as it ends
			continue
		}
		opts = append(opts, sdktrace.WithBatcher(e))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return tp.Shutdown
}

// serviceResource describes the process: service.name (the environment's
// OTEL_* variables win, as the OpenTelemetry spec has it) and the SDK.
func serviceResource(serviceName string) *resource.Resource {
	r, err := resource.New(context.Background(),
		// service.instance.id tells the instances of a service apart: Cloud
		// Monitoring refuses points of two writers on one time series.
		resource.WithAttributes(attribute.String("service.name", serviceName),
			attribute.String("service.instance.id", uuid.NewString())),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil { // a malformed OTEL_RESOURCE_ATTRIBUTES: keep what was read
		otel.Handle(err)
	}
	if r == nil {
		return resource.Default()
	}
	return r
}

// Inject writes ctx's trace context into message attributes (creating the
// map when nil) and returns it.
func Inject(ctx context.Context, attrs map[string]string) map[string]string {
	if attrs == nil {
		attrs = map[string]string{}
	}
	propagator.Inject(ctx, propagation.MapCarrier(attrs))
	return attrs
}

// Extract returns ctx with the remote trace context found in attrs.
func Extract(ctx context.Context, attrs map[string]string) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(attrs))
}

// ExtractFrom returns ctx with the remote trace context that carrier holds.
func ExtractFrom(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, carrier)
}

// TraceID returns the hex trace id of ctx's span, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// SpanID returns the hex span id of ctx's span, or "".
func SpanID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasSpanID() {
		return ""
	}
	return sc.SpanID().String()
}

// Logger returns a JSON slog logger writing to w (os.Stdout when nil) in
// Cloud Logging's format, for GOOGLE_CLOUD_PROJECT project (used to build
// the trace field; may be "").
func Logger(w io.Writer, project string, level slog.Level) *slog.Logger {
	if w == nil {
		w = os.Stdout
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.Attr{Key: "message", Value: a.Value}
			}
			return a
		},
	})
	return slog.New(&traceHandler{Handler: h, project: project})
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

type traceHandler struct {
	slog.Handler
	project string
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		tr := sc.TraceID().String()
		if h.project != "" {
			tr = fmt.Sprintf("projects/%s/traces/%s", h.project, tr)
		}
		r.AddAttrs(
			slog.String("logging.googleapis.com/trace", tr),
			slog.String("logging.googleapis.com/spanId", sc.SpanID().String()),
			slog.Bool("logging.googleapis.com/trace_sampled", sc.IsSampled()),
		)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithAttrs(as), project: h.project}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithGroup(name), project: h.project}
}

// StartProducer starts a producer span for publishing to topic and injects
// its context into attrs. End the span after the publish.
func StartProducer(ctx context.Context, topic string, attrs map[string]string, kv ...attribute.KeyValue) (context.Context, trace.Span, map[string]string) {
	ctx, span := startSpan(ctx, "send "+topic, producerKind, append(producerAttributes(topic, len(kv)), kv...))
	return ctx, span, Inject(ctx, attrs)
}

// producerAttributes returns the messaging attributes of a producer span
// for topic, with room for extra more.
func producerAttributes(topic string, extra int) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 3+extra)
	return append(kv, messagingSystem, AttrMessagingDestination.String(topic), operationSend)
}

// StartConsumer continues the trace carried by a message's attributes with a
// consumer span for processing a message of subscription (on topic, when
// known), per the OpenTelemetry messaging conventions: the destination is
// the topic, the subscription has its own attribute.
func StartConsumer(ctx context.Context, subscription, messageID string, attrs map[string]string, kv ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span, all := StartConsumerLate(ctx, subscription, messageID, attrs, 0, kv...)
	span.SetAttributes(all...)
	return ctx, span
}

// StartConsumerLate is StartConsumer for a caller that sets the span's
// attributes itself, all at once, once it knows the last of them: the span
// starts without attributes, and all is what StartConsumer would have set
// (with room for extra more), for the caller to append to and pass to
// span.SetAttributes before ending the span. The SDK then copies them once,
// at their size, instead of growing its copy for the late ones; the span
// exports the same.
func StartConsumerLate(ctx context.Context, subscription, messageID string, attrs map[string]string, extra int,
	kv ...attribute.KeyValue) (_ context.Context, _ trace.Span, all []attribute.KeyValue) {
	ctx = Extract(ctx, attrs)
	all = make([]attribute.KeyValue, 0, 4+len(kv)+extra)
	all = append(all, messagingSystem, AttrMessagingSubscription.String(subscription), operationProcess,
		AttrMessageID.String(messageID))
	ctx, span := Tracer().Start(ctx, "process "+subscription, consumerKind...)
	return ctx, span, append(all, kv...)
}

// The constant parts of messaging spans, made once.
var (
	messagingSystem  = AttrMessagingSystem.String("gcp_pubsub")
	operationSend    = AttrMessagingOperation.String("send")
	operationProcess = AttrMessagingOperation.String("process")
	producerKind     = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumerKind     = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

// startSpan starts a span with options opts and attributes kv.
//
// The attributes are set right after the start rather than passed as a
// start option, which the SDK copies once more: the exported span is the
// same (the sampler Setup installs does not look at attributes).
func startSpan(ctx context.Context, name string, opts []trace.SpanStartOption, kv []attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := Tracer().Start(ctx, name, opts...)
	span.SetAttributes(kv...)
	return ctx, span
}

// SafeURL is what logs and spans may show of a URL: scheme, host and path,
// without userinfo, query or fragment (signed URLs carry their credentials
// in the query). Unparsable input becomes "<invalid URL>".
func SafeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<invalid URL>"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, Opaque: u.Opaque}
	out := r.String()
	if u.RawQuery != "" || u.ForceQuery {
		out += "?…"
	}
	return out
}
