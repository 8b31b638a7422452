package platform

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
)

// Defaults and limits of Config, as the environment sets them.
const (
	// PortDefault is the HTTP port when PORT is unset (Cloud Run sets it).
	PortDefault = 8080
	// AckDeadlineDefault, AckDeadlineMin and AckDeadlineMax bound
	// AIPROD_ACK_DEADLINE: Pub/Sub accepts 10 s to 600 s.
	AckDeadlineDefault = queue.AckDeadlineDefault
	AckDeadlineMin     = 10 * time.Second
	AckDeadlineMax     = 10 * time.Minute
	// CircuitCooldownDefault is AIPROD_CIRCUIT_COOLDOWN's default.
	CircuitCooldownDefault = circuit.CooldownDefault
	// MaxAttemptsDefault is AIPROD_MAX_ATTEMPTS's default; it equals
	// router.MaxAttemptsDefault and worker.MaxAttemptsDefault (their tests
	// in cmd/router and cmd/worker say so).
	MaxAttemptsDefault = 3
	// DefaultMonthlyLimitDefault is AIPROD_DEFAULT_MONTHLY_LIMIT_USD's
	// default: a project without a budget of its own may commit 100 USD a
	// month, enough to try the service, small enough that a leaked key
	// cannot spend without bound.
	DefaultMonthlyLimitDefault = 100 * money.Dollar
)

// Config is the configuration every service shares, read from the
// environment by ReadConfig; each service's own Config embeds it. The
// comment of each field names its variable.
type Config struct {
	// Project is the Google Cloud project of Pub/Sub and Firestore
	// (GOOGLE_CLOUD_PROJECT, required).
	Project string
	// Port is the HTTP port (PORT, default PortDefault, 0 to 65535): the
	// API of ingest, /healthz of the router and the worker.
	Port int
	// CatalogPath is the backend catalog file (AIPROD_CATALOG; "" is the
	// embedded catalog) and Catalog the catalog read from it.
	CatalogPath string
	Catalog     *catalog.Catalog
	// Provision creates missing topics and subscriptions at start
	// (AIPROD_PROVISION; default true when PUBSUB_EMULATOR_HOST is set).
	Provision bool
	// AckDeadline is the ack deadline of the subscriptions Provision
	// creates (AIPROD_ACK_DEADLINE, AckDeadlineMin to AckDeadlineMax).
	AckDeadline time.Duration
	// Circuit configures the circuit breakers; its Cooldown is
	// AIPROD_CIRCUIT_COOLDOWN (positive), the other fields their defaults.
	Circuit circuit.Config
	// LogLevel is AIPROD_LOG_LEVEL: debug, info (default), warn or error.
	LogLevel slog.Level
	// MaxAttempts is how many attempts a job may have before it fails with
	// backend_failed (AIPROD_MAX_ATTEMPTS, at least 1): the MaxAttempts of
	// router.Config and worker.Config. Ingest does not use it but checks
	// it, so that a bad value fails every service alike.
	MaxAttempts int
	// BudgetDefaults apply to every project without a budget of its own.
	// Its MonthlyLimit is AIPROD_DEFAULT_MONTHLY_LIMIT_USD (USD, at most 6
	// decimals, default DefaultMonthlyLimitDefault; 0: no default, such
	// projects are unlimited): the router refuses past it, the worker and
	// the sweeper count thresholds against it, ingest shows it in GET
	// /v1/budget. Every service reads it, so that all of them agree.
	BudgetDefaults budget.Defaults
	// ExportSpans exports spans over OTLP/gRPC: true when
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
	// set (the exporter reads those and the other OTEL_* variables).
	ExportSpans bool
	// GoogleCloudTelemetry exports spans to Cloud Trace and metrics to Cloud
	// Monitoring (as workload.googleapis.com/<instrument>) of Project with
	// Application Default Credentials (AIPROD_GCP_TELEMETRY, default false).
	GoogleCloudTelemetry bool
	// Pprof is where the service serves Go's profiles (AIPROD_PPROF, e.g.
	// 127.0.0.1:6060; default "": none).
	Pprof string
}

// ReadConfig reads the variables every service shares; v records the
// errors. It reads the catalog file.
func ReadConfig(v *Vars) Config {
	c := Config{
		Project:     v.Required("GOOGLE_CLOUD_PROJECT", "the Google Cloud project of Pub/Sub and Firestore"),
		Port:        v.Int("PORT", PortDefault, 0, math.MaxUint16),
		CatalogPath: v.Get("AIPROD_CATALOG"),
		Provision:   v.Bool("AIPROD_PROVISION", v.Get("PUBSUB_EMULATOR_HOST") != ""),
		AckDeadline: v.Duration("AIPROD_ACK_DEADLINE", AckDeadlineDefault, AckDeadlineMin, AckDeadlineMax),
		Circuit: circuit.Config{
			Cooldown: v.PositiveDuration("AIPROD_CIRCUIT_COOLDOWN", CircuitCooldownDefault),
		}.WithDefaults(),
		LogLevel:             logLevel(v),
		MaxAttempts:          v.Int("AIPROD_MAX_ATTEMPTS", MaxAttemptsDefault, 1, math.MaxInt),
		BudgetDefaults:       budget.Defaults{MonthlyLimit: v.USD("AIPROD_DEFAULT_MONTHLY_LIMIT_USD", DefaultMonthlyLimitDefault)},
		ExportSpans:          v.Get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || v.Get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "",
		GoogleCloudTelemetry: v.Bool("AIPROD_GCP_TELEMETRY", false),
		Pprof:                strings.TrimSpace(v.Get(PprofVar)),
	}
	cat, err := catalog.Load(c.CatalogPath)
	if err != nil {
		v.Fail("AIPROD_CATALOG", "%w", err)
	}
	c.Catalog = cat
	return c
}

// FromEnv reads the shared configuration alone: ReadConfig and the errors
// that name each bad variable. On error, c holds the defaults of the bad
// variables.
func FromEnv(getenv func(string) string) (Config, error) {
	v := NewVars(getenv)
	c := ReadConfig(v)
	return c, v.Err()
}

// Shared returns c; a service's Config, which embeds Config, has it too
// (see Main).
func (c Config) Shared() Config { return c }

// Addr is the address the service's HTTP server listens on: ":PORT".
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// logLevel reads AIPROD_LOG_LEVEL; slog's names are case-insensitive and
// take an offset (info+2).
func logLevel(v *Vars) slog.Level {
	var l slog.Level
	if s := v.value("AIPROD_LOG_LEVEL"); s != "" && l.UnmarshalText([]byte(s)) != nil {
		v.Fail("AIPROD_LOG_LEVEL", "%q is not a log level (debug, info, warn or error)", s)
		return slog.LevelInfo
	}
	return l
}
