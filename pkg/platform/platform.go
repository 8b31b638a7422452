// Package platform is what the three service binaries (cmd/ingest,
// cmd/router, cmd/worker) share: reading the Cloud Run / Google Cloud
// environment into a config, opening the production Pub/Sub and Firestore
// clients, tracing and logging set-up, an HTTP server that drains on
// SIGTERM, and the process entry point.
//
// # Environment
//
//	GOOGLE_CLOUD_PROJECT      Google Cloud project of Pub/Sub and Firestore (required)
//	PORT                      HTTP port (default 8080): the API for ingest, /healthz for the others
//	PUBSUB_EMULATOR_HOST      use a Pub/Sub emulator (the client library reads it)
//	FIRESTORE_EMULATOR_HOST   use a Firestore emulator (the client library reads it)
//	AIPROD_CATALOG            backend catalog file (default: the embedded catalog)
//	AIPROD_PROVISION          create missing topics and subscriptions at start
//	                          (default: true when PUBSUB_EMULATOR_HOST is set, else false)
//	AIPROD_ACK_DEADLINE       ack deadline of the subscriptions it provisions (default 60s; 10s..600s)
//	AIPROD_CIRCUIT_COOLDOWN   how long an open circuit waits for its probe (default 30s)
//	AIPROD_LOG_LEVEL          debug, info, warn or error (default info)
//	OTEL_EXPORTER_OTLP_ENDPOINT  export spans over OTLP/gRPC (and the other OTEL_* variables)
//
// Each binary adds its own variables; see its package doc.
package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Defaults.
const (
	PortDefault = "8080"
	// ShutdownTimeout is how long a service drains after SIGTERM: Cloud Run
	// sends SIGKILL 10 s after SIGTERM.
	ShutdownTimeout = 8 * time.Second
)

// Env is the environment shared by every service.
type Env struct {
	Service     string
	Project     string
	Port        string
	CatalogPath string
	Provision   bool
	Circuit     circuit.Config
	LogLevel    slog.Level
	Getenv      func(string) string
}

// LoadEnv reads the shared variables; errors name the variable.
func LoadEnv(service string, getenv func(string) string) (Env, error) {
	e := Env{
		Service:     service,
		Project:     getenv("GOOGLE_CLOUD_PROJECT"),
		Port:        cmp.Or(getenv("PORT"), PortDefault),
		CatalogPath: getenv("AIPROD_CATALOG"),
		Provision:   getenv("PUBSUB_EMULATOR_HOST") != "",
		Getenv:      getenv,
	}
	if e.Project == "" {
		return e, errors.New("GOOGLE_CLOUD_PROJECT is required: the Google Cloud project of Pub/Sub and Firestore")
	}
	var err error
	if e.Provision, err = e.Bool("AIPROD_PROVISION", e.Provision); err != nil {
		return e, err
	}
	if v := getenv("AIPROD_CIRCUIT_COOLDOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return e, fmt.Errorf("AIPROD_CIRCUIT_COOLDOWN=%q: want a positive duration such as 30s", v)
		}
		e.Circuit.Cooldown = d
	}
	e.Circuit = e.Circuit.WithDefaults()
	if v := getenv("AIPROD_LOG_LEVEL"); v != "" {
		if err := e.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return e, fmt.Errorf("AIPROD_LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	return e, nil
}

// Duration reads an optional positive duration variable.
func (e Env) Duration(name string, def time.Duration) (time.Duration, error) {
	v := e.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 500ms", name, v)
	}
	return d, nil
}

// Bool reads an optional boolean variable.
func (e Env) Bool(name string, def bool) (bool, error) {
	v := e.Getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// Catalog loads the backend catalog.
func (e Env) Catalog() (*catalog.Catalog, error) {
	c, err := catalog.Load(e.CatalogPath)
	if err != nil {
		return nil, fmt.Errorf("AIPROD_CATALOG: %w", err)
	}
	return c, nil
}

// OpenQueue connects to Pub/Sub (or its emulator) and, when Provision is
// set, creates the topology for the catalog's backends.
func (e Env) OpenQueue(ctx context.Context, cat *catalog.Catalog) (*gcppubsub.Queue, error) {
	q, err := gcppubsub.New(ctx, e.Project)
	if err != nil {
		return nil, err
	}
	if e.Provision {
		ack, err := e.Duration("AIPROD_ACK_DEADLINE", queue.AckDeadlineDefault)
		if err != nil {
			_ = q.Close()
			return nil, err
		}
		subs := queue.Topology(cat.Names())
		for i := range subs {
			subs[i].AckDeadline = ack
		}
		// Several services provision at start, perhaps before the emulator
		// or the API answers: transient errors are retried.
		if err := retry.Do(ctx, retry.Policy{MaxElapsed: time.Minute}, func(ctx context.Context) error {
			return queue.Provision(ctx, q, subs)
		}); err != nil {
			_ = q.Close()
			return nil, err
		}
	}
	return q, nil
}

// OpenStore connects to Firestore (or its emulator).
func (e Env) OpenStore(ctx context.Context) (*firestorestore.Store, error) {
	return firestorestore.New(ctx, e.Project)
}

// Main runs a service: it loads the environment, sets up logging and
// tracing, runs run until SIGTERM or SIGINT, and returns the exit code.
func Main(service string, run func(ctx context.Context, env Env, log *slog.Logger) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env, err := LoadEnv(service, os.Getenv)
	log := telemetry.Logger(os.Stdout, env.Project, env.LogLevel).With("service", service)
	if err != nil {
		log.Error("configuration", "error", err)
		return 2
	}
	shutdown, err := setupTracing(ctx, service)
	if err != nil {
		log.Error("tracing", "error", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	}()
	log.Info("starting", "project", env.Project, "port", env.Port)
	if err := run(ctx, env, log); err != nil {
		log.Error("stopped", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func setupTracing(ctx context.Context, service string) (func(context.Context) error, error) {
	var exporters []sdktrace.SpanExporter
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		exporters = append(exporters, exp)
	}
	return telemetry.Setup(service, exporters...), nil
}

// Serve serves h on addr until ctx is done, then drains for at most
// ShutdownTimeout. ready, if not nil, is called once the port listens.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
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

// HealthHandler answers /healthz for the services that have no API.
func HealthHandler() http.Handler {
	mux := http.NewServeMux()
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
