package api

import (
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/aiprod/aiprod/pkg/client"
)

// SpanSource gives the spans of a trace that a local stack keeps in memory
// (telemetry.SpanStore).
type SpanSource interface {
	Trace(traceID string) []sdktrace.ReadOnlySpan
}

// jobSpans is GET /v1/jobs/{id}/spans: the spans of the job's trace, by
// start time, for `aiprod trace` (only when Config.Spans is set).
func (s *Server) jobSpans(w http.ResponseWriter, r *http.Request, project string) error {
	j, err := s.loadJob(r.Context(), project, r.PathValue("id"))
	if err != nil {
		return err
	}
	spans := s.cfg.Spans.Trace(j.TraceID)
	out := client.SpanList{Spans: make([]client.Span, 0, len(spans))}
	for _, sp := range spans {
		out.Spans = append(out.Spans, PublicSpan(sp))
	}
	slices.SortStableFunc(out.Spans, func(a, b client.Span) int { return a.Start.Compare(b.Start) })
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// PublicSpan is sp as the API shows it. Attribute values are as recorded:
// AIPROD's spans never hold secrets (URLs are telemetry.SafeURL'd).
func PublicSpan(sp sdktrace.ReadOnlySpan) client.Span {
	out := client.Span{
		Name: sp.Name(), SpanID: sp.SpanContext().SpanID().String(), Kind: strings.TrimPrefix(sp.SpanKind().String(), "SpanKind"),
		Scope: sp.InstrumentationScope().Name, Start: sp.StartTime().UTC(), End: sp.EndTime().UTC(), Status: "unset",
	}
	if p := sp.Parent(); p.IsValid() {
		out.ParentSpanID = p.SpanID().String()
	}
	switch st := sp.Status(); st.Code {
	case codes.Ok:
		out.Status = "ok"
	case codes.Error:
		out.Status, out.Error = "error", st.Description
	}
	if attrs := sp.Attributes(); len(attrs) > 0 {
		out.Attributes = make(map[string]string, len(attrs))
		for _, kv := range attrs {
			out.Attributes[string(kv.Key)] = kv.Value.String()
		}
	}
	return out
}
