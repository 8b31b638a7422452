package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	gcpmetric "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric" //nolint:staticcheck // deprecated: see setupTracing
	gcptrace "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/trace"   //nolint:staticcheck // deprecated: see setupTracing

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Exit codes of Main and RunService.
const (
	ExitOK     = 0 // the service stopped cleanly
	ExitFailed = 1 // the service (or opening a client) failed
	ExitConfig = 2 // a variable is bad; nothing was opened
)

// ServiceConfig is a service's configuration: a struct that embeds Config,
// and so has its Shared method.
type ServiceConfig interface{ Shared() Config }

// Service is one service binary, for Main.
type Service[C ServiceConfig] struct {
	// Name ("ingest", "router", "worker") is the service of logs and traces.
	Name string
	// FromEnv reads the whole configuration through getenv; its error names
	// every bad variable. Errors or not, C's Shared().LogLevel and Project
	// set up the logger.
	FromEnv func(getenv func(string) string) (C, error)
	// Run builds the service from cfg and d and runs it until ctx is done.
	Run func(ctx context.Context, cfg C, d Deps) error
}

// Deps are what Main opens for Service.Run and closes after it: the
// logger and the production Pub/Sub and Firestore clients.
type Deps struct {
	Log   *slog.Logger
	Queue *gcppubsub.Queue
	Store *firestorestore.Store
}

// Main is the whole main function of a service binary:
//
//	func main() { os.Exit(platform.Main(service)) }
//
// It runs s with RunService, the process's environment and standard output
// until SIGTERM (Cloud Run's stop signal) or SIGINT, and returns the exit
// code.
func Main[C ServiceConfig](s Service[C]) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return RunService(ctx, s, os.Getenv, os.Stdout)
}

// RunService runs a service until ctx is done and returns the exit code.
// It reads the configuration through getenv and logs JSON to stdout. A bad
// configuration is one error log, whose error names every bad variable, and
// ExitConfig, before anything is opened. Then it sets up tracing, opens
// Deps (provisioning the topology when Config.Provision is set) and calls
// s.Run: ExitFailed when something fails, ExitOK when the service stops
// cleanly.
func RunService[C ServiceConfig](ctx context.Context, s Service[C], getenv func(string) string, stdout io.Writer) int {
	cfg, err := s.FromEnv(getenv)
	shared := cfg.Shared()
	log := telemetry.Logger(stdout, shared.Project, shared.LogLevel).With("service", s.Name)
	if err != nil {
		log.Error("bad configuration", "error", err)
		return ExitConfig
	}
	shutdown, err := setupTracing(ctx, s.Name, shared)
	if err != nil {
		log.Error("tracing", "error", err)
		return ExitFailed
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	}()
	if shared.Pprof != "" {
		addr, stop, err := ServePprof(shared.Pprof)
		if err != nil {
			log.Error("profiles", "error", err)
			return ExitFailed
		}
		defer stop()
		log.Info("serving profiles", "addr", addr)
	}
	log.Info("starting", "project", shared.Project, "port", shared.Port)
	if err := openAndRun(ctx, s, cfg, log); err != nil {
		log.Error("stopped", "error", err)
		return ExitFailed
	}
	log.Info("stopped")
	return ExitOK
}

// openAndRun opens the Deps, runs s and closes them.
func openAndRun[C ServiceConfig](ctx context.Context, s Service[C], cfg C, log *slog.Logger) error {
	shared := cfg.Shared()
	q, err := openQueue(ctx, shared)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := firestorestore.New(ctx, shared.Project)
	if err != nil {
		return err
	}
	defer st.Close()
	return s.Run(ctx, cfg, Deps{Log: log, Queue: q, Store: st})
}

// openQueue connects to Pub/Sub (or its emulator) and, when Provision is
// set, creates the topology of the catalog's backends.
func openQueue(ctx context.Context, c Config) (*gcppubsub.Queue, error) {
	q, err := gcppubsub.New(ctx, c.Project)
	if err != nil {
		return nil, err
	}
	if !c.Provision {
		return q, nil
	}
	subs := queue.Topology(c.Catalog.Names())
	for i := range subs {
		subs[i].AckDeadline = c.AckDeadline
	}
	// Several services provision at start, perhaps before the emulator or
	// the API answers: transient errors are retried.
	if err := retry.Do(ctx, retry.Policy{MaxElapsed: time.Minute}, func(ctx context.Context) error {
		return queue.Provision(ctx, q, subs)
	}); err != nil {
		_ = q.Close()
		return nil, err
	}
	return q, nil
}

// setupTracing installs the tracer and meter providers. Metrics are always
// served as Prometheus text (telemetry.MetricsHandler, at /metrics); with
// ExportSpans, spans and metrics also go to the OTLP/gRPC exporters
// configured by the OTEL_* variables; with GoogleCloudTelemetry, to Cloud
// Trace and Cloud Monitoring.
func setupTracing(ctx context.Context, service string, c Config) (func(context.Context) error, error) {
	var (
		exporters []sdktrace.SpanExporter
		readers   []sdkmetric.Reader
	)
	if c.ExportSpans {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		mexp, err := otlpmetricgrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		exporters, readers = append(exporters, exp), append(readers, sdkmetric.NewPeriodicReader(mexp))
	}
	if c.GoogleCloudTelemetry {
		// These exporters are deprecated (archived after 2027-01-01) in
		// favour of OTLP to Google's Telemetry API; they are kept until
		// Cloud Monitoring takes OTLP metrics under the workload.googleapis.com
		// types that infra/ queries (see the README).
		exp, err := gcptrace.New(gcptrace.WithProjectID(c.Project)) //nolint:staticcheck // see above
		if err != nil {
			return nil, fmt.Errorf("AIPROD_GCP_TELEMETRY: Cloud Trace exporter: %w", err)
		}
		mexp, err := gcpmetric.New(gcpmetric.WithProjectID(c.Project)) //nolint:staticcheck // see above
		if err != nil {
			return nil, fmt.Errorf("AIPROD_GCP_TELEMETRY: Cloud Monitoring exporter: %w", err)
		}
		exporters, readers = append(exporters, exp), append(readers, sdkmetric.NewPeriodicReader(mexp))
	}
	stopMetrics, err := telemetry.SetupMetrics(service, readers...)
	if err != nil {
		return nil, err
	}
	stopTraces := telemetry.Setup(service, exporters...)
	return func(ctx context.Context) error { return errors.Join(stopTraces(ctx), stopMetrics(ctx)) }, nil
}
