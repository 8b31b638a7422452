package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// HTTP semantic-convention attribute keys of the server spans.
const (
	attrHTTPMethod = attribute.Key("http.request.method")
	attrHTTPRoute  = attribute.Key("http.route")
	attrHTTPStatus = attribute.Key("http.response.status_code")
	attrURLPath    = attribute.Key("url.path")
)

// serverSpan are the start options of a request's server span.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// requestState is what observe keeps for a request.
type requestState struct {
	info reqInfo
	sw   statusWriter
}

// reqInfo is what the inner layers learn about a request and the outer
// layers report: the matched route and the authenticated project.
type reqInfo struct {
	route   string
	project string
}

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// routeOf returns the route pattern the request matched, or "".
func routeOf(r *http.Request) string { return infoOf(r.Context()).route }

// statusWriter records the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isProbe reports whether a path is a health probe or the metrics scrape:
// not traced or measured, logged at
// debug level.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" || path == "/metrics" }

// observe wraps every request but the health probes in a server span, which
// continues a W3C traceparent sent by the caller, and writes one access log
// line per request. Request headers are never logged: they hold API keys.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{sw: statusWriter{ResponseWriter: w}} // one allocation for both
		info, sw := &st.info, &st.sw
		ctx := context.WithValue(r.Context(), reqInfoKey{}, info)
		probe := isProbe(r.URL.Path)
		var span trace.Span
		if !probe {
			// Only the trace context headers, never baggage from the internet.
			ctx = telemetry.ExtractFrom(ctx, traceHeaders(r.Header))
			// Attributes set after the start, not as a start option, which
			// the SDK copies once more; the span is the same.
			ctx, span = telemetry.Tracer().Start(ctx, "HTTP "+r.Method, serverSpan...)
			span.SetAttributes(attrHTTPMethod.String(r.Method), attrURLPath.String(r.URL.Path))
		}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if !probe {
			s.cfg.Metrics.HTTPRequest(ctx, routeLabel(info.route), status, time.Since(start))
		}
		if span != nil {
			kv := make([]attribute.KeyValue, 0, 3) // one SetAttributes: the span's slice grows once
			if info.route != "" {
				span.SetName(info.route)
				kv = append(kv, attrHTTPRoute.String(info.route))
			}
			if info.project != "" {
				kv = append(kv, telemetry.AttrProjectID.String(info.project))
			}
			span.SetAttributes(append(kv, attrHTTPStatus.Int(status))...)
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}
		level := slog.LevelInfo
		if probe && status < 500 {
			level = slog.LevelDebug
		}
		// httpRequest is Cloud Logging's structured request field.
		attrs := []slog.Attr{
			slog.Group("httpRequest",
				slog.String("requestMethod", r.Method),
				slog.String("requestUrl", r.URL.Path),
				slog.Int("status", status),
				slog.String("responseSize", strconv.FormatInt(sw.bytes, 10)),
				slog.String("latency", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 6, 64)+"s"),
				slog.String("userAgent", r.UserAgent()),
			),
			slog.String("route", info.route),
		}
		if info.project != "" {
			attrs = append(attrs, slog.String("project_id", info.project))
		}
		s.log.LogAttrs(ctx, level, "http request", attrs...)
	})
}

// traceHeaders is a request's headers as a propagation carrier that holds
// only the W3C trace context (traceparent, tracestate).
type traceHeaders http.Header

func (h traceHeaders) Get(key string) string {
	if key != queue.AttrTraceParent && key != queue.AttrTraceState {
		return ""
	}
	return http.Header(h).Get(key)
}

func (traceHeaders) Set(string, string) {}

func (h traceHeaders) Keys() []string {
	var keys []string
	for _, k := range []string{queue.AttrTraceParent, queue.AttrTraceState} {
		if http.Header(h).Get(k) != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// recoverPanics turns a panic in a handler into a logged 500 JSON error; the
// server keeps serving. http.ErrAbortHandler is re-raised, as net/http
// expects.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic in handler",
				slog.String("route", routeOf(r)),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
				span.RecordError(fmt.Errorf("panic: %v", v))
			}
			if sw.status != 0 {
				return // the answer has started; nothing more to say
			}
			s.writeJSON(sw, r, http.StatusInternalServerError,
				ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "internal error"}})
		}()
		next.ServeHTTP(sw, r)
	})
}

// dispatch routes the request through the mux, answering unknown routes and
// wrong methods with JSON errors instead of the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// The mux has no route: h is its 404 or 405 handler. Run it aside
		// to learn which, and keep its Allow header.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			s.writeError(w, r, &httpError{status: http.StatusMethodNotAllowed, ErrorDetail: ErrorDetail{
				Code:    CodeMethodNotAllowed,
				Message: fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow")),
			}})
			return
		}
		s.writeError(w, r, &httpError{status: http.StatusNotFound, ErrorDetail: ErrorDetail{
			Code:    CodeNotFound,
			Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path),
		}})
		return
	}
	infoOf(r.Context()).route = pattern
	s.mux.ServeHTTP(w, r)
}

// headerRecorder is a ResponseWriter that keeps the status and headers and
// drops the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}

// routeLabel is the http.route label of a request: its route pattern
// without the method, or "unmatched" for a request no route served (never
// the raw path, whose cardinality is unbounded).
func routeLabel(route string) string {
	if route == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(route, " "); ok {
		return path
	}
	return route
}
