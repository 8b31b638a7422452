package worker

import (
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/metrics"
)

// metered is a backend adapter whose provider calls are counted and timed
// (aiprod_backend_requests_total, aiprod_backend_request_duration_seconds):
// the one place the worker's provider calls are measured.
type metered struct {
	backend.Backend
	name string
	m    *metrics.Recorder
}

// meteredFinder is a metered adapter that also finds generations.
type meteredFinder struct {
	metered
	f backend.Finder
}

// meter wraps adapter be of backend name; a backend.Finder stays one.
func meter(name string, be backend.Backend, m *metrics.Recorder) backend.Backend {
	mb := metered{Backend: be, name: name, m: m}
	if f, ok := be.(backend.Finder); ok {
		return meteredFinder{metered: mb, f: f}
	}
	return mb
}

// observe records one call of operation that started at start.
func (b metered) observe(ctx context.Context, operation string, start time.Time, err error) {
	b.m.BackendRequest(ctx, b.name, operation, outcomeOf(err), time.Since(start))
}

// outcomeOf is the outcome label of a provider call: ok, or its error class.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	if c := errclass.Of(err); c != nil {
		return c.Error()
	}
	return errclass.Retryable.Error()
}

func (b metered) Submit(ctx context.Context, req backend.SubmitRequest) (backend.Handle, error) {
	start := time.Now()
	h, err := b.Backend.Submit(ctx, req)
	b.observe(ctx, "submit", start, err)
	return h, err
}

func (b metered) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	start := time.Now()
	st, err := b.Backend.Poll(ctx, h)
	b.observe(ctx, "poll", start, err)
	return st, err
}

func (b metered) Cancel(ctx context.Context, h backend.Handle) error {
	start := time.Now()
	err := b.Backend.Cancel(ctx, h)
	b.observe(ctx, "cancel", start, err)
	return err
}

func (b meteredFinder) Find(ctx context.Context, req backend.SubmitRequest, since time.Time) (backend.Handle, bool, error) {
	start := time.Now()
	h, found, err := b.f.Find(ctx, req, since)
	b.observe(ctx, "find", start, err)
	return h, found, err
}
