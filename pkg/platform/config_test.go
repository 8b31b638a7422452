package platform

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/queue"
)

// catalogFiles writes a valid catalog of one backend, and a file that is
// not a catalog.
func catalogFiles(t *testing.T) (one *catalog.Catalog, good, bad string) {
	dir := t.TempDir()
	one = catalog.Default()
	one.Backends = one.Backends[:1]
	b, err := json.Marshal(one)
	require.NoError(t, err)
	good, bad = filepath.Join(dir, "catalog.json"), filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(good, b, 0o600))
	require.NoError(t, os.WriteFile(bad, []byte("{"), 0o600))
	return one, good, bad
}

// loadErr is catalog.Load's error for path.
func loadErr(t *testing.T, path string) string {
	_, err := catalog.Load(path)
	require.Error(t, err)
	return err.Error()
}

func TestFromEnvSharedVariables(t *testing.T) {
	t.Parallel()
	one, good, bad := catalogFiles(t)
	missing := filepath.Join(t.TempDir(), "missing.json")
	emulator := envs{"PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"}
	platformtest.Check(t, FromEnv,
		platformtest.Variable("GOOGLE_CLOUD_PROJECT", func(c Config) any { return c.Project },
			platformtest.Unset(platformtest.Project),
			platformtest.Set("aiprod-prod", "aiprod-prod"),
			platformtest.Bad("", "GOOGLE_CLOUD_PROJECT is required: the Google Cloud project of Pub/Sub and Firestore").
				With(envs{"GOOGLE_CLOUD_PROJECT": ""})),
		platformtest.Variable("PORT", func(c Config) any { return c.Port },
			platformtest.Unset(PortDefault),
			platformtest.Set("9090", 9090),
			platformtest.Set("0", 0),
			platformtest.Bad("http", `PORT: "http" is not a whole number`),
			platformtest.Bad("65536", `PORT: "65536" must be between 0 and 65535`),
			platformtest.Bad("-1", `PORT: "-1" must be between 0 and 65535`)),
		platformtest.Variable("AIPROD_CATALOG", func(c Config) any { return c.Catalog.Names() },
			platformtest.Unset(catalog.Default().Names()),
			platformtest.Set(good, one.Names()),
			platformtest.Bad(missing, "AIPROD_CATALOG: "+loadErr(t, missing)),
			platformtest.Bad(bad, "AIPROD_CATALOG: "+loadErr(t, bad))),
		platformtest.Variable("AIPROD_PROVISION", func(c Config) any { return c.Provision },
			platformtest.Unset(false),
			platformtest.Unset(true).With(emulator),
			platformtest.Set("false", false).With(emulator),
			platformtest.Set("true", true),
			platformtest.Bad("maybe", `AIPROD_PROVISION: "maybe" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_ACK_DEADLINE", func(c Config) any { return c.AckDeadline },
			platformtest.Unset(queue.AckDeadlineDefault),
			platformtest.Set("10s", 10*time.Second),
			platformtest.Set("10m", 10*time.Minute),
			platformtest.Bad("60", `AIPROD_ACK_DEADLINE: "60" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("9s", `AIPROD_ACK_DEADLINE: "9s" must be between 10s and 10m`),
			platformtest.Bad("601s", `AIPROD_ACK_DEADLINE: "601s" must be between 10s and 10m`)),
		platformtest.Variable("AIPROD_CIRCUIT_COOLDOWN", func(c Config) any { return c.Circuit },
			platformtest.Unset(circuit.Config{}.WithDefaults()),
			platformtest.Set("5s", circuit.Config{Cooldown: 5 * time.Second}.WithDefaults()),
			platformtest.Bad("soon", `AIPROD_CIRCUIT_COOLDOWN: "soon" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("0s", `AIPROD_CIRCUIT_COOLDOWN: "0s" must be positive`),
			platformtest.Bad("-1s", `AIPROD_CIRCUIT_COOLDOWN: "-1s" must be positive`)),
		platformtest.Variable("AIPROD_LOG_LEVEL", func(c Config) any { return c.LogLevel },
			platformtest.Unset(slog.LevelInfo),
			platformtest.Set("debug", slog.LevelDebug),
			platformtest.Set("WARN", slog.LevelWarn),
			platformtest.Set("error", slog.LevelError),
			platformtest.Bad("loud", `AIPROD_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`)),
		platformtest.Variable("AIPROD_MAX_ATTEMPTS", func(c Config) any { return c.MaxAttempts },
			platformtest.Unset(MaxAttemptsDefault),
			platformtest.Set("1", 1),
			platformtest.Set(" 5 ", 5),
			platformtest.Bad("three", `AIPROD_MAX_ATTEMPTS: "three" is not a whole number`),
			platformtest.Bad("2.5", `AIPROD_MAX_ATTEMPTS: "2.5" is not a whole number`),
			platformtest.Bad("0", `AIPROD_MAX_ATTEMPTS: "0" must be positive`)),
		platformtest.Variable("AIPROD_DEFAULT_MONTHLY_LIMIT_USD", func(c Config) any { return c.BudgetDefaults },
			platformtest.Unset(budget.Defaults{MonthlyLimit: 100 * money.Dollar}),
			platformtest.Set("250", budget.Defaults{MonthlyLimit: 250 * money.Dollar}),
			platformtest.Set("12.345678", budget.Defaults{MonthlyLimit: money.MustParse("12.345678")}),
			platformtest.Set("0", budget.Defaults{}),
			platformtest.Bad("-5", `AIPROD_DEFAULT_MONTHLY_LIMIT_USD: "-5" must not be negative`),
			platformtest.Bad("0.0000001", `AIPROD_DEFAULT_MONTHLY_LIMIT_USD: "0.0000001" is not an amount of USD with at most 6 decimals (e.g. 100, 12.5)`),
			platformtest.Bad("$100", `AIPROD_DEFAULT_MONTHLY_LIMIT_USD: "$100" is not an amount of USD with at most 6 decimals (e.g. 100, 12.5)`)),
		platformtest.Variable("OTEL_EXPORTER_OTLP_ENDPOINT", func(c Config) any { return c.ExportSpans },
			platformtest.Unset(false),
			platformtest.Set("http://collector:4317", true),
			platformtest.Unset(true).With(envs{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"})),
		platformtest.Variable("AIPROD_GCP_TELEMETRY", func(c Config) any { return c.GoogleCloudTelemetry },
			platformtest.Unset(false),
			platformtest.Set("true", true),
			platformtest.Bad("yes please", `AIPROD_GCP_TELEMETRY: "yes please" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_PPROF", func(c Config) any { return c.Pprof },
			platformtest.Unset(""),
			platformtest.Set(" 127.0.0.1:6060 ", "127.0.0.1:6060")),
	)
}

// TestFromEnvReportsEveryBadVariable: start-up names all of them at once.
func TestFromEnvReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(platformtest.Getenv(envs{"PORT": "x", "AIPROD_LOG_LEVEL": "loud"}))
	require.EqualError(t, err, "GOOGLE_CLOUD_PROJECT is required: the Google Cloud project of Pub/Sub and Firestore\n"+
		`PORT: "x" is not a whole number`+"\n"+
		`AIPROD_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`)
}

func TestConfigAddr(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(platformtest.Getenv(envs{"GOOGLE_CLOUD_PROJECT": "p", "PORT": "9090"}))
	require.NoError(t, err)
	require.Equal(t, ":9090", c.Addr())
	require.Equal(t, c, c.Shared())
}
