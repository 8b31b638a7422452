package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/telemetry"
)

// ShutdownTimeout is how long a service drains after SIGTERM: Cloud Run
// sends SIGKILL 10 s after SIGTERM.
const ShutdownTimeout = 8 * time.Second

// Timeouts bound the phases of one HTTP exchange, so that slow or stalled
// clients cannot hold a server's connections (slowloris).
type Timeouts struct {
	ReadHeader time.Duration // request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the answer
	Idle       time.Duration // between requests on a kept-alive connection
}

// TimeoutsDefault are the services' timeouts. Write outlasts the longest
// answer a handler may take: a push step (worker.StepBudgetDefault, 45 s)
// and a dead-letter listing's wait.
var TimeoutsDefault = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 2 * time.Minute, Idle: 2 * time.Minute}

// NewHTTPServer returns a server of h with timeouts t.
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// Serve serves h on addr until ctx is done, then drains for at most
// ShutdownTimeout. ready, if not nil, is called once the port listens.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := NewHTTPServer(h, TimeoutsDefault)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain HTTP server: %w", err)
	}
	return nil
}

// HealthHandler answers /healthz for the services that have no API, and
// serves their metrics as Prometheus text at /metrics.
func HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return mux
}

// RunAll runs fns concurrently until ctx is done or one fails; it returns
// the first error after every fn has returned.
func RunAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(fns))
	for _, fn := range fns {
		go func() {
			err := fn(ctx)
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	var first error
	for range fns {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	return first
}

// ServeHealth serves HealthHandler on Addr until ctx is done: the HTTP
// server of the services that have no API.
func (c Config) ServeHealth(ctx context.Context) error {
	return Serve(ctx, c.Addr(), HealthHandler(), nil)
}
