package telemetry

import (
	"context"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// StartHTTPClient starts the CLIENT span of an outgoing HTTP call of
// method to rawURL on tracer (nil: Tracer()): the URL is recorded without
// its query or credentials (SafeURL). No trace header is added to the
// request: the services AIPROD calls are third parties.
func StartHTTPClient(ctx context.Context, tracer trace.Tracer, name, method, rawURL string, kv ...attribute.KeyValue) (context.Context, trace.Span) {
	if tracer == nil {
		tracer = Tracer()
	}
	host := ""
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Host
	}
	kv = append(kv, attribute.String("http.request.method", method), attribute.String("url.full", SafeURL(rawURL)),
		attribute.String("server.address", host))
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kv...))
}

// EndHTTPClient records the call's answer status (0: none) or its error,
// whose text must hold no secret, and ends span.
func EndHTTPClient(span trace.Span, status int, err error) {
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "no answer")
	case status > 0:
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 400 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}
