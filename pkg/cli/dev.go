package cli

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/devstack"
	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

func init() {
	register(command{"dev", "[flags]", "run the whole system locally: emulators, simulated backends, ingest, router, worker", runDev})
	register(command{"emulators", "[flags]", "serve only the Pub/Sub and Firestore emulators and print the variables to export", runEmulators})
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// devFlags reads the flags of aiprod dev into the stack's configuration
// (Spans and Logger left for the caller) and the log level.
func devFlags(env *Env, args []string) (devstack.Config, slog.Level, string, error) {
	fs := newFlags(env, "dev", "[flags]", `Run the whole system in one process: the Pub/Sub emulator, the Firestore
emulator, one simulated backend per provider (speaking the provider's real
HTTP protocol), and the ingest API, router and worker. Prints "ready" on a
line of its own when the API answers. Stop with Ctrl-C.`)
	var cfg devstack.Config
	fs.StringVar(&cfg.Addr, "addr", devstack.AddrDefault, "API listen address")
	fs.StringVar(&cfg.APIKey, "api-key", devstack.APIKeyDefault, "API key of project dev")
	fs.StringVar(&cfg.AdminKey, "admin-key", devstack.AdminKeyDefault, "admin key for /v1/admin routes")
	fs.Float64Var(&cfg.SimSpeed, "sim-speed", 1, "scale the simulated backends' generation times (0.1 = ten times faster)")
	fs.DurationVar(&cfg.Circuit.Cooldown, "circuit-cooldown", devstack.CooldownDefault, "how long an open circuit waits before its probe")
	logLevel := fs.String("log-level", "warn", "service logs to stderr at this level and above (debug, info, warn, error)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", 0,
		"API requests a second per key, burst twice that (0: no limit; services read AIPROD_RATE_LIMIT, default 50)")
	allowPrivate := fs.Bool("allow-private-networks", true, "let webhooks and output fetches reach loopback and private addresses, "+
		"where the simulated backends and test receivers live (services: "+netguard.EnvAllowPrivateNetworks+", default false)")
	pprofAddr := fs.String("pprof", env.Getenv(platform.PprofVar),
		"serve Go's profiles (net/http/pprof) on this address, to see where the stack spends its time under load, e.g. during aiprod loadtest (default $AIPROD_PPROF; empty: off)")
	if err := parse(fs, args); err != nil {
		return cfg, 0, "", err
	}
	if cfg.RateLimit < 0 || cfg.RateLimit > api.RateLimitMax {
		fmt.Fprintf(env.Stderr, "aiprod dev: --rate-limit must be 0 to %d, got %d\n", api.RateLimitMax, cfg.RateLimit)
		return cfg, 0, "", errUsage
	}
	cfg.RefusePrivateNetworks = !*allowPrivate
	level, err := parseLevel(*logLevel)
	if err != nil {
		return cfg, 0, "", fmt.Errorf("--log-level: %w", err)
	}
	return cfg, level, *pprofAddr, nil
}

func runDev(ctx context.Context, env *Env, args []string) error {
	cfg, level, pprofAddr, err := devFlags(env, args)
	if err != nil {
		return err
	}
	if pprofAddr != "" {
		addr, stop, err := platform.ServePprof(pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(env.Stderr, "profiles: http://%s/debug/pprof/\n", addr)
	}
	spans := telemetry.NewSpanStore(0) // aiprod trace shows them as a waterfall
	shutdown := telemetry.Setup("aiprod-dev", spans)
	defer func() { _ = shutdown(context.Background()) }()
	stopMetrics, err := telemetry.SetupMetrics("aiprod-dev") // served at GET /metrics on the API
	if err != nil {
		return err
	}
	defer func() { _ = stopMetrics(context.Background()) }()
	fmt.Fprintln(env.Stderr, "starting emulators, simulated backends and services…")
	start := time.Now()
	cfg.Spans, cfg.Logger = spans, telemetry.Logger(env.Stderr, "", level)
	st, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "api\t%s\t(key %s, project %s; admin key %s)\n", st.APIURL, cfg.APIKey, devstack.ProjectDefault, cfg.AdminKey)
	fmt.Fprintf(tw, "pubsub emulator\t%s\n", st.PubsubAddr)
	fmt.Fprintf(tw, "firestore emulator\t%s\n", st.FirestoreAddr)
	for _, n := range slices.Sorted(maps.Keys(st.Sims)) {
		s := st.Sims[n]
		fmt.Fprintf(tw, "backend %s\t%s\t(%s protocol; faults: POST %s/__sim/faults)\n", n, s.URL, s.Provider, s.URL)
	}
	fmt.Fprintf(tw, "operator alerts\t%s\t(Slack, SMS and email as the local inbox received them; Slack hooks: %s/slack/<name>)\n",
		st.AlertsURL, strings.TrimSuffix(st.AlertsURL, "/__sim/messages"))
	_ = tw.Flush()
	private := "refused"
	if st.Network.AllowPrivate {
		private = "allowed (webhooks and output fetches may reach loopback)"
	}
	fmt.Fprintf(env.Stderr, "up in %s; circuit cool-down %s; private networks %s\n",
		time.Since(start).Round(time.Millisecond), cfg.Circuit.Cooldown, private)
	fmt.Fprintln(env.Stdout, "ready")
	select {
	case <-ctx.Done():
		fmt.Fprintln(env.Stderr, "shutting down…")
		return nil
	case err := <-st.Err():
		return err
	}
}

// Default emulator addresses (the ports gcloud's emulators use).
const (
	PubsubAddrDefault    = "127.0.0.1:8085"
	FirestoreAddrDefault = "127.0.0.1:8086"
)

// EmulatorMemoryLimitMiB is the default soft memory limit of `aiprod
// emulators`: the emulators hold every message and document in memory, and
// a Go heap otherwise grows to twice what is live before it is collected.
const EmulatorMemoryLimitMiB = 800

func runEmulators(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "emulators", "[flags]", `Serve the Pub/Sub emulator and the Firestore emulator on ports and
print the lines to export so that the services (cmd/ingest, cmd/router,
cmd/worker) or any Google Cloud client use them:

  eval "$(go run ./cmd/aiprod emulators | grep _HOST= | sed 's/^/export /')"

Stop with Ctrl-C.`)
	psAddr := fs.String("pubsub-addr", PubsubAddrDefault, "Pub/Sub emulator listen address (port 0 picks one)")
	fsAddr := fs.String("firestore-addr", FirestoreAddrDefault, "Firestore emulator listen address (port 0 picks one)")
	fsRetention := fs.Duration("firestore-retention", firestoreemu.DevRetention,
		"how long the Firestore emulator keeps superseded document versions, for reads at a past time (Firestore: 1h); they are memory")
	pprofAddr := fs.String("pprof", env.Getenv(platform.PprofVar),
		"serve Go's profiles (net/http/pprof) on this address, to see where the emulators spend their time under load (default $AIPROD_PPROF; empty: off)")
	memLimit := fs.Int("memory-limit-mib", EmulatorMemoryLimitMiB,
		"soft limit of the emulators' memory, in MiB: Go's garbage collector works harder as the heap nears it, so that what was\n"+
			"freed is returned instead of doubling the heap (runtime/debug.SetMemoryLimit; never a hard cap). 0: none; GOMEMLIMIT, when set, wins")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *memLimit > 0 && env.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	if *pprofAddr != "" {
		addr, stop, err := platform.ServePprof(*pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(env.Stdout, "PPROF=http://%s/debug/pprof/\n", addr)
	}
	ps, err := pubsubemu.Serve(*psAddr)
	if err != nil {
		return err
	}
	defer ps.Close()
	fsrv, err := firestoreemu.NewServerAt(*fsAddr, firestoreemu.Retention(*fsRetention))
	if err != nil {
		return fmt.Errorf("firestore emulator: %w", err)
	}
	defer fsrv.Close()
	fmt.Fprintf(env.Stdout, "PUBSUB_EMULATOR_HOST=%s\n", ps.Addr)
	fmt.Fprintf(env.Stdout, "FIRESTORE_EMULATOR_HOST=%s\n", fsrv.Addr())
	fmt.Fprintln(env.Stdout, "ready")
	<-ctx.Done()
	fmt.Fprintln(env.Stderr, strings.TrimSpace("shutting down emulators…"))
	return nil
}
