package telemetry

import (
	"context"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SpanStoreSizeDefault is how many spans a SpanStore keeps by default.
const SpanStoreSizeDefault = 100_000

// SpanStore is a span exporter that keeps the most recent spans in memory,
// by trace, so that a local stack (aiprod dev) can show a job's trace
// without a tracing backend. Safe for concurrent use; not for production.
type SpanStore struct {
	max int

	mu      sync.Mutex
	order   []string // trace id of each kept span, oldest first
	byTrace map[string][]sdktrace.ReadOnlySpan
}

// NewSpanStore returns a SpanStore keeping up to max spans (<= 0:
// SpanStoreSizeDefault); older spans are dropped first.
func NewSpanStore(max int) *SpanStore {
	if max <= 0 {
		max = SpanStoreSizeDefault
	}
	return &SpanStore{max: max, byTrace: map[string][]sdktrace.ReadOnlySpan{}}
}

// ExportSpans keeps spans (sdktrace.SpanExporter).
func (s *SpanStore) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range spans {
		id := sp.SpanContext().TraceID().String()
		s.byTrace[id] = append(s.byTrace[id], sp)
		s.order = append(s.order, id)
	}
	for len(s.order) > s.max {
		old := s.order[0]
		s.order = s.order[1:]
		if rest := s.byTrace[old][1:]; len(rest) > 0 {
			s.byTrace[old] = rest
		} else {
			delete(s.byTrace, old)
		}
	}
	return nil
}

// Shutdown does nothing: the spans stay readable (sdktrace.SpanExporter).
func (s *SpanStore) Shutdown(context.Context) error { return nil }

// Trace returns the kept spans of trace id (hex), in the order they ended.
func (s *SpanStore) Trace(id string) []sdktrace.ReadOnlySpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), s.byTrace[id]...)
}
