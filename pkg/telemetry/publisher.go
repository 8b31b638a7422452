package telemetry

import (
	"context"
	"maps"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/queue"
)

// TracedPublisher publishes through Publisher in a producer span (the
// OpenTelemetry messaging conventions): the span's context travels in the
// message's attributes, the span carries the job, project, backend and
// attempt named by those attributes and the message id, and records a
// failed publish. It is the one place where producer spans start; every
// publisher of AIPROD goes through Traced.
type TracedPublisher struct{ queue.Publisher }

// Traced returns p wrapped in a TracedPublisher (p itself when it is one).
func Traced(p queue.Publisher) queue.Publisher {
	if _, ok := p.(TracedPublisher); ok {
		return p
	}
	return TracedPublisher{p}
}

// Publish is Traced(p).Publish(ctx, topic, m), without making an
// interface value of the wrapper (an allocation) at each call.
func Publish(ctx context.Context, p queue.Publisher, topic string, m queue.Message) (string, error) {
	if tp, ok := p.(TracedPublisher); ok {
		return tp.Publish(ctx, topic, m)
	}
	return TracedPublisher{p}.Publish(ctx, topic, m)
}

type linksKey struct{}

// WithLinks returns ctx whose next producer span (TracedPublisher) links to
// links, e.g. the request that published a message in another trace.
func WithLinks(ctx context.Context, links ...trace.Link) context.Context {
	if len(links) == 0 {
		return ctx
	}
	return context.WithValue(ctx, linksKey{}, links)
}

// Publish publishes m to topic in a producer span; m's attributes are
// copied, never changed.
func (p TracedPublisher) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	attrs := maps.Clone(m.Attributes)
	// The span's attributes are set once, at its end, with the message id:
	// the SDK's copy of them is made once, at its size. Nothing reads them
	// before (the span is this function's), so it exports as if they were
	// set at the start.
	kv := appendMessageAttributes(producerAttributes(topic, len(messageIDs)+2), attrs)
	ctx, span := Tracer().Start(ctx, "send "+topic, producerKind...)
	attrs = Inject(ctx, attrs)
	defer span.End()
	if links, ok := ctx.Value(linksKey{}).([]trace.Link); ok {
		for _, l := range links {
			span.AddLink(l)
		}
	}
	m.Attributes = attrs
	id, err := p.Publisher.Publish(ctx, topic, m)
	if err != nil {
		span.SetAttributes(kv...)
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return "", err
	}
	span.SetAttributes(append(kv, AttrMessageID.String(id))...)
	return id, nil
}

// messageIDs are the message attributes that name what a message is about,
// and the span attributes they become, in span order.
var messageIDs = [...]struct {
	attr string
	key  attribute.Key
}{{queue.AttrJobID, AttrJobID}, {queue.AttrProjectID, AttrProjectID}, {queue.AttrBackend, AttrBackend}}

// appendMessageAttributes appends to kv the span attributes of the ids a
// message's attributes name: job, project, backend and attempt.
func appendMessageAttributes(kv []attribute.KeyValue, attrs map[string]string) []attribute.KeyValue {
	for _, id := range messageIDs {
		if v := attrs[id.attr]; v != "" {
			kv = append(kv, id.key.String(v))
		}
	}
	if n, err := strconv.Atoi(attrs[queue.AttrAttempt]); err == nil {
		kv = append(kv, AttrAttempt.Int(n))
	}
	return kv
}
