package consumer

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aiprod/aiprod/pkg/queue"
)

// messageLogger returns base.With(the log fields of m), except that the
// handler with the fields is built only when a record is logged: JSON and
// text handlers format the fields when they are added, and most messages
// log nothing through their logger. What is logged is the same.
func messageLogger(base *slog.Logger, m *queue.Message) *slog.Logger {
	return slog.New(&lazyHandler{base: base, fields: fieldsOf(m)})
}

// messageFields are the log fields of a message, as values.
type messageFields struct {
	id, job, project, attempt, backend string
	delivery                           int
}

func fieldsOf(m *queue.Message) messageFields {
	return messageFields{id: m.ID, job: m.Attr(queue.AttrJobID), project: m.Attr(queue.AttrProjectID),
		attempt: m.Attr(queue.AttrAttempt), backend: m.Attr(queue.AttrBackend), delivery: m.DeliveryAttempt}
}

// args are the fields as Logger.With's arguments.
func (f messageFields) args() []any {
	a := []any{"message_id", f.id, "job_id", f.job, "project_id", f.project, "delivery_attempt", f.delivery}
	if f.attempt != "" {
		a = append(a, "attempt", f.attempt)
	}
	if f.backend != "" {
		a = append(a, "backend", f.backend)
	}
	return a
}

// lazyHandler is the handler of base.With(fields.args()...), built on
// first use.
type lazyHandler struct {
	base   *slog.Logger
	fields messageFields

	once sync.Once
	h    slog.Handler
}

func (l *lazyHandler) handler() slog.Handler {
	l.once.Do(func() { l.h = l.base.With(l.fields.args()...).Handler() })
	return l.h
}

// Enabled asks the base logger's handler: adding fields does not change
// what slog's handlers (and telemetry's) enable.
func (l *lazyHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.base.Handler().Enabled(ctx, level)
}

func (l *lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	return l.handler().Handle(ctx, r)
}

func (l *lazyHandler) WithAttrs(as []slog.Attr) slog.Handler { return l.handler().WithAttrs(as) }

func (l *lazyHandler) WithGroup(name string) slog.Handler { return l.handler().WithGroup(name) }
