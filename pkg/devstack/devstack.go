// Package devstack runs the whole AIPROD system in one process for local
// development and end-to-end tests: the Pub/Sub emulator (pkg/emulator/pubsub,
// on a port), the Firestore emulator (pkg/emulator/firestore), one simulated backend per catalog entry (speaking its
// provider's real HTTP protocol), and the ingest API (with the dead-letter
// and webhook-secret admin routes), router (with the stuck-job sweeper and the usage roller),
// worker and notifier (job webhooks) wired with the same code and the same
// Google Cloud client libraries as in production.
//
// The router's usage roller runs too, and learns each backend's figures
// (package learn).
//
// Start returns once the API answers; Close stops everything in reverse
// order. `aiprod dev` is Start plus a "ready" line.
package devstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providers"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/console"
	"github.com/aiprod/aiprod/pkg/deadletter"
	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/falsim"
	"github.com/aiprod/aiprod/pkg/sim/lumasim"
	"github.com/aiprod/aiprod/pkg/sim/replicatesim"
	"github.com/aiprod/aiprod/pkg/sim/runwaysim"
	"github.com/aiprod/aiprod/pkg/sim/veosim"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/sweeper"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/worker"
)

// Defaults of the dev stack (DESIGN.md's dev-stack contract).
const (
	AddrDefault       = "127.0.0.1:8080"
	APIKeyDefault     = "dev-key"
	AdminKeyDefault   = "dev-admin"
	ProjectDefault    = "dev"        // the API project of the dev key
	GCPProjectDefault = "aiprod-dev" // the emulators' Google Cloud project
	PollDefault       = 100 * time.Millisecond
	CooldownDefault   = 10 * time.Second
	// HealthCacheTTL is how long the dev router reuses backend health read
	// from the store: a circuit opened now is seen by routing within it.
	HealthCacheTTL = 200 * time.Millisecond
	// RollupIntervalDefault and RollupLagDefault are the usage roller's
	// (budget.RollerConfig) in the dev stack: quicker than the services'
	// minute and two, so that what a run teaches shows soon.
	RollupIntervalDefault = 10 * time.Second
	RollupLagDefault      = 30 * time.Second
	// SimCredential is the API key every adapter sends to its simulator.
	SimCredential = "sim-key"
	// VeoStorageURI is where the Veo simulator "writes" videos.
	VeoStorageURI = "gs://aiprod-dev-outputs/videos"
)

// simTimings gives each simulated provider its own latency, so routing and
// timing differences show (queue time, run time).
var simTimings = map[string][2]time.Duration{
	"veo":       {300 * time.Millisecond, 1500 * time.Millisecond},
	"runway":    {200 * time.Millisecond, 1000 * time.Millisecond},
	"luma":      {400 * time.Millisecond, 1200 * time.Millisecond},
	"replicate": {500 * time.Millisecond, 800 * time.Millisecond},
	"fal":       {100 * time.Millisecond, 700 * time.Millisecond},
}

// Config tunes the stack; the zero value is the documented dev stack.
type Config struct {
	// Spans, when set, serves GET /v1/jobs/{id}/spans (aiprod trace's
	// waterfall) from the spans kept in memory.
	Spans      api.SpanSource
	Addr       string // API listen address; "127.0.0.1:0" picks a free port
	APIKey     string // seeded for project Project
	AdminKey   string
	Project    string
	GCPProject string
	Catalog    *catalog.Catalog // default catalog when nil
	// SimSpeed scales every simulator's queue and run time (1 = as in
	// simTimings; tests use less).
	SimSpeed     float64
	PollInterval time.Duration // worker polls of the simulators
	Circuit      circuit.Config
	Logger       *slog.Logger
	// Output, when set, receives a copy of every finished video (as
	// AIPROD_OUTPUT_BUCKET does for cmd/worker). Build it with
	// output.Config.AllowPrivateNetworks as Stack.Network has it: the
	// simulators serve their videos on loopback.
	Output output.Copier
	// SecretsKey seals the projects' webhook secrets (AIPROD_SECRETS_KEY's
	// form); "" draws a fresh key per run.
	SecretsKey string
	// RefusePrivateNetworks makes Stack.Network refuse loopback and private
	// addresses as the services do by default. The zero value allows them
	// (aiprod dev --allow-private-networks, on by default): the simulated
	// backends and test receivers listen on loopback.
	RefusePrivateNetworks bool
	// RateLimit is the API's requests a second per key (api.Config.
	// RateLimit); 0, the dev default, is no limit. The dev stack sets no
	// default monthly budget either: project dev is unlimited until a
	// budget is set for it.
	RateLimit int
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Addr = cmp.Or(c.Addr, AddrDefault)
	c.APIKey = cmp.Or(c.APIKey, APIKeyDefault)
	c.AdminKey = cmp.Or(c.AdminKey, AdminKeyDefault)
	c.Project = cmp.Or(c.Project, ProjectDefault)
	c.GCPProject = cmp.Or(c.GCPProject, GCPProjectDefault)
	if c.Catalog == nil {
		c.Catalog = catalog.Default()
	}
	if c.SimSpeed <= 0 {
		c.SimSpeed = 1
	}
	c.PollInterval = cmp.Or(c.PollInterval, PollDefault)
	if c.Circuit.Cooldown == 0 {
		c.Circuit.Cooldown = CooldownDefault
	}
	c.Circuit = c.Circuit.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Sim is one running simulated backend.
type Sim struct {
	Backend  string
	Provider string
	URL      string // base URL of the simulator
	Core     *sim.Core
}

// Stack is a running dev stack.
type Stack struct {
	APIURL        string
	PubsubAddr    string
	FirestoreAddr string
	Sims          map[string]*Sim
	Store         store.Store
	Queue         queue.Queue
	Catalog       *catalog.Catalog // with endpoints pointing at the simulators
	// Network is the guard for requests to URLs the stack did not choose
	// (webhooks, output fetches): it allows private networks unless
	// Config.RefusePrivateNetworks.
	Network netguard.Policy
	// AlertsURL lists the operator alerts the dev stack's inbox received
	// (Slack, SMS and email, as JSON): GET it.
	AlertsURL string

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error
	closers []func() error
}

// Start brings the whole stack up and returns once the API answers.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	cfg = cfg.WithDefaults()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{Sims: map[string]*Sim{}, cancel: cancel, errs: make(chan error, 8),
		Network: netguard.Policy{AllowPrivate: !cfg.RefusePrivateNetworks}}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	q, err := s.startPubsub(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st, err := s.startFirestore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	backends, err := s.startBackends(ctx, cfg)
	if err != nil {
		return nil, err
	}
	h, err := s.startServices(ctx, runCtx, cfg, q, st, backends)
	if err != nil {
		return nil, err
	}
	if err := s.serveAPI(cfg.Addr, h); err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, s.APIURL+"/healthz"); err != nil {
		return nil, err
	}
	return s, nil
}

// startPubsub serves the Pub/Sub emulator and returns the production
// client over it, with AIPROD's topics and subscriptions provisioned.
func (s *Stack) startPubsub(ctx context.Context, cfg Config) (*gcppubsub.Queue, error) {
	ps, err := pubsubemu.Serve("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.closers = append(s.closers, ps.Close)
	s.PubsubAddr = ps.Addr
	q, err := gcppubsub.New(ctx, cfg.GCPProject,
		option.WithEndpoint(ps.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, fmt.Errorf("devstack: pubsub client: %w", err)
	}
	s.Queue = q
	s.closers = append(s.closers, q.Close)
	if err := queue.Provision(ctx, q, queue.Topology(cfg.Catalog.Names())); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	return q, nil
}

// startFirestore serves the Firestore emulator and returns the production
// store over it.
func (s *Stack) startFirestore(ctx context.Context, cfg Config) (*firestorestore.Store, error) {
	fs, err := firestoreemu.NewServer(firestoreemu.Retention(firestoreemu.DevRetention))
	if err != nil {
		return nil, fmt.Errorf("devstack: firestore emulator: %w", err)
	}
	s.closers = append(s.closers, fs.Close)
	s.FirestoreAddr = fs.Addr()
	fc, err := fs.Client(ctx, cfg.GCPProject)
	if err != nil {
		return nil, fmt.Errorf("devstack: firestore client: %w", err)
	}
	s.closers = append(s.closers, fc.Close)
	st := firestorestore.NewFromClient(fc)
	s.Store = st
	return st, nil
}

// startBackends starts the simulated backends and returns the production
// adapters, with a catalog pointing at the simulators.
func (s *Stack) startBackends(ctx context.Context, cfg Config) (map[string]backend.Backend, error) {
	sims, err := StartSims(cfg.Catalog, cfg.SimSpeed)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, sims.Close)
	s.Sims, s.Catalog = sims.Sims, sims.Catalog
	env := func(k string) string {
		if k == providers.EnvVeoStorageURI {
			return VeoStorageURI
		}
		return SimCredential
	}
	backends, err := providers.NewAll(ctx, s.Catalog, nil, providers.Options{
		Getenv: env, Project: cfg.GCPProject, PollInterval: cfg.PollInterval,
		VeoTokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: SimCredential}),
	})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	return backends, nil
}

// startServices seeds the API key, builds the API and runs the router,
// sweeper and worker until Close; it returns the API's handler.
func (s *Stack) startServices(ctx, runCtx context.Context, cfg Config, q *gcppubsub.Queue, st *firestorestore.Store,
	backends map[string]backend.Backend) (http.Handler, error) {
	if err := api.SeedAPIKey(ctx, st, cfg.APIKey, cfg.Project, time.Now()); err != nil {
		return nil, fmt.Errorf("devstack: seed API key: %w", err)
	}
	ring, err := webhookSecrets(cfg, st)
	if err != nil {
		return nil, err
	}
	endpoints := map[string]string{}
	for name, sm := range s.Sims {
		endpoints[name] = sm.URL
	}
	dl, err := deadletter.NewRemote(deadletter.RemoteConfig{Queue: q, Results: st, Backends: s.Catalog.Names()})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	apiSrv, err := api.New(api.Config{Store: st, Queue: q, Catalog: s.Catalog, AdminKey: cfg.AdminKey,
		Circuit: cfg.Circuit, Endpoints: endpoints, Logger: cfg.Logger,
		DeadLetters: dl, MetricsHandler: telemetry.MetricsHandler(),
		Ready: platform.Ready(st, q, queue.TopicJobs), Spans: cfg.Spans, RateLimit: cfg.RateLimit, WebhookSecrets: ring,
		AllowPrivateNetworks: s.Network.AllowPrivate, Console: console.MustNew()})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	rt, err := router.New(router.Config{Queue: q, Store: st, Catalog: s.Catalog, Circuit: cfg.Circuit,
		Logger: cfg.Logger, HealthCacheTTL: HealthCacheTTL})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	wk, err := worker.New(worker.Config{Queue: q, Store: st, Backends: backends, Catalog: s.Catalog,
		Circuit: cfg.Circuit, Logger: cfg.Logger, PollInterval: cfg.PollInterval, Output: cfg.Output})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	rp, err := deadletter.NewReplayer(deadletter.ReplayerConfig{Queue: q, Results: st, Backends: s.Catalog.Names(), Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.run(runCtx, "router", rt.Run)
	s.run(runCtx, "dlq-replayer", rp.Run)
	sw, err := sweeper.New(sweeper.Config{Store: st, Queue: q, Catalog: s.Catalog, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.run(runCtx, "sweeper", sw.Run)
	// The usage roller, as in the router service: daily roll-ups, the
	// budget.forecast events of projects with a budget, and each backend's
	// learned figures (package learn); locally it runs every 10 s, 30 s
	// behind, so GET /v1/backends shows what a run taught within a minute.
	ro, err := budget.NewRoller(budget.RollerConfig{Store: st, Interval: RollupIntervalDefault, Lag: RollupLagDefault,
		Logger: cfg.Logger, Events: q, Fold: learn.FoldRound})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.run(runCtx, "usage-roller", ro.Run)
	s.run(runCtx, "worker", wk.Run)
	if err := s.startNotifier(runCtx, cfg, q, st, ring); err != nil {
		return nil, err
	}
	return apiSrv.Handler(), nil
}

// serveAPI serves h on addr until Close.
func (s *Stack) serveAPI(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devstack: API listen on %s: %w", addr, err)
	}
	hs := platform.NewHTTPServer(h, platform.TimeoutsDefault)
	s.APIURL = "http://" + ln.Addr().String()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- fmt.Errorf("api: %w", err)
		}
	}()
	s.closers = append(s.closers, func() error {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		return hs.Shutdown(sctx)
	})
	return nil
}

// simulator is what the dev stack needs of a provider's simulator.
type simulator interface {
	Handler() http.Handler
	Core() *sim.Core
}

// simulators makes the simulator of each provider.
var simulators = map[string]func(sim.Config) simulator{
	"runway":    func(c sim.Config) simulator { return runwaysim.New(c) },
	"luma":      func(c sim.Config) simulator { return lumasim.New(c) },
	"replicate": func(c sim.Config) simulator { return replicatesim.New(c) },
	"fal":       func(c sim.Config) simulator { return falsim.New(c) },
	"veo":       func(c sim.Config) simulator { return veosim.New(c) },
}

// Sims is a set of running simulated backends, one per catalog backend.
type Sims struct {
	Sims map[string]*Sim
	// Catalog is the catalog given to StartSims with every endpoint
	// pointing at its simulator.
	Catalog *catalog.Catalog
	servers []*http.Server
}

// StartSims starts one simulator per backend of cat on a free loopback
// port, each speaking its provider's protocol, with generation times scaled
// by speed (1 = the default timings).
func StartSims(cat *catalog.Catalog, speed float64) (_ *Sims, err error) {
	if speed <= 0 {
		speed = 1
	}
	out := &Sims{Sims: map[string]*Sim{}, Catalog: cat.Clone()}
	defer func() {
		if err != nil {
			_ = out.Close()
		}
	}()
	for i := range out.Catalog.Backends {
		b := &out.Catalog.Backends[i]
		sm, err := out.start(b.Name, b.Provider, speed)
		if err != nil {
			return nil, err
		}
		b.Endpoint = sm.URL
		if b.Provider == "luma" {
			b.Endpoint = sm.URL + lumasim.BasePath
		}
	}
	return out, nil
}

func (s *Sims) start(name, provider string, speed float64) (*Sim, error) {
	newSim, ok := simulators[provider]
	if !ok {
		return nil, fmt.Errorf("devstack: no simulator for provider %q (backend %s)", provider, name)
	}
	t := simTimings[provider]
	x := newSim(sim.Config{QueueTime: time.Duration(float64(t[0]) * speed), RunTime: time.Duration(float64(t[1]) * speed)})
	h, core := x.Handler(), x.Core()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devstack: simulator %s: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.servers = append(s.servers, srv)
	sm := &Sim{Backend: name, Provider: provider, URL: "http://" + ln.Addr().String(), Core: core}
	core.SetBaseURL(sm.URL)
	s.Sims[name] = sm
	return sm, nil
}

// Close stops every simulator.
func (s *Sims) Close() error {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	return nil
}

// Env returns the environment variables a worker process needs to talk to
// these simulators: every credential variable of the catalog, the Veo
// storage URI, a static Veo token, and AIPROD_ALLOW_PRIVATE_NETWORKS=true
// (the simulators serve their videos on loopback).
func (s *Sims) Env() []string {
	env := []string{
		providers.EnvVeoStorageURI + "=" + VeoStorageURI,
		providers.EnvVeoStaticToken + "=" + SimCredential,
		netguard.EnvAllowPrivateNetworks + "=true",
	}
	for _, b := range s.Catalog.Backends {
		if b.CredentialEnv != "" {
			env = append(env, b.CredentialEnv+"="+SimCredential)
		}
	}
	return env
}

func (s *Stack) run(ctx context.Context, name string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			s.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// Err reports the first failure of a service, once; the channel is never
// closed.
func (s *Stack) Err() <-chan error { return s.errs }

// Close stops the services, then the simulators and emulators.
func (s *Stack) Close() error {
	s.cancel()
	s.wg.Wait()
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil && !strings.Contains(err.Error(), "closed") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func waitHealthy(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devstack: API did not become healthy at %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
