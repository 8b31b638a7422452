package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
)

// Defaults of Config.
const (
	// MaxBodyBytesDefault caps request bodies: 1 MiB.
	MaxBodyBytesDefault int64 = 1 << 20
	// ReadyTimeoutDefault bounds one call of Config.Ready.
	ReadyTimeoutDefault = 5 * time.Second
)

// Config is what the ingest API needs. Store, Queue and Catalog are
// required; the zero values of the other fields are usable.
type Config struct {
	// Metrics records API latency, jobs accepted and the job-write path's
	// metrics. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// MetricsHandler, when set, serves GET /metrics (Prometheus text).
	MetricsHandler http.Handler
	// Console, when set, serves the web console (console.New): GET
	// /console, /console/ and /console/assets/..., without authentication
	// or rate limit (static files; the page reads the API with the key the
	// user gives it). Nil: those paths are 404s like any unknown route.
	Console http.Handler
	// Spans, when set (aiprod dev), serves GET /v1/jobs/{id}/spans from
	// the spans the process keeps in memory.
	Spans SpanSource
	// Store holds jobs, events, backend states and API keys.
	Store store.Store
	// Queue receives new jobs (queue.TopicJobs) and lifecycle events
	// (queue.TopicEvents).
	Queue queue.Publisher
	// Catalog lists the backends; request allow-lists must name them.
	Catalog *catalog.Catalog
	// AdminKey is the bearer token of the /v1/admin/ routes. Empty disables
	// them: every admin request is then a 401.
	AdminKey string
	// Circuit is the breaker configuration of the routers and workers, used
	// to show when an open circuit lets its next probe through.
	Circuit circuit.Config
	// Endpoints maps backend names to the endpoint that GET /v1/backends
	// shows (the dev stack's simulated backends). Nil in production: no
	// endpoint is shown.
	Endpoints map[string]string
	// DeadLetters serves GET /v1/admin/dlq and POST /v1/admin/dlq/replay
	// (deadletter.NewRemote in the services, which has the router replay;
	// deadletter.NewService replays itself); nil: those routes answer 404.
	DeadLetters DeadLetters
	// WebhookSecrets serves POST /v1/admin/projects/{project}/webhook-secret
	// (webhooksecrets.Keyring); nil: that route answers 404.
	WebhookSecrets WebhookSecrets
	// Logger receives structured logs; nil means slog.Default(). Use
	// telemetry.Logger so that log lines carry the trace.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowPrivateNetworks accepts http:// and private-network alert
	// destinations (the dev stack's inbox on loopback), and job webhook_urls
	// on private networks; services take https alert destinations only and
	// refuse webhook_urls whose host is private (400 naming the field).
	AllowPrivateNetworks bool
	// MaxBodyBytes caps request bodies; 0 means MaxBodyBytesDefault.
	MaxBodyBytes int64
	// RateLimit is how many requests a second each API key may send to
	// the project routes (/v1/jobs, /v1/backends, /v1/budget, /v1/usage,
	// /v1/forecast, /v1/recommendations):
	// a token bucket per key, keyed by the key's hash. Past it the answer
	// is 429 rate_limited with Retry-After. 0: no limit. Admin routes and
	// /healthz, /readyz, /metrics are never limited.
	RateLimit int
	// RateBurst is how many requests a key may send at once, the size of
	// its bucket; 0 means RateBurstFactor × RateLimit.
	RateBurst int
	// RateLimitBuckets caps how many keys' buckets are kept (LRU); 0 means
	// RateLimitBucketsDefault.
	RateLimitBuckets int
	// BudgetDefaults apply to every project whose budget leaves them
	// unset: GET /v1/budget shows the default monthly limit (limit_source
	// "default"), and what the API settles (cancel) counts against it.
	// The zero value applies none.
	BudgetDefaults budget.Defaults
	// Ready reports whether the store and the queue are reachable, for
	// GET /readyz; nil means always ready. It is called with a deadline
	// of ReadyTimeoutDefault.
	Ready func(ctx context.Context) error
}

// WithDefaults returns c with its zero optional fields filled.
func (c Config) WithDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, MaxBodyBytesDefault)
	c.Circuit = c.Circuit.WithDefaults()
	if c.RateBurst == 0 {
		c.RateBurst = RateBurstFactor * c.RateLimit
	}
	c.RateLimitBuckets = cmp.Or(c.RateLimitBuckets, RateLimitBucketsDefault)
	return c
}

// Validate checks a Config after WithDefaults; messages name the field.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("api: Config.Store is required"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("api: Config.Queue is required"))
	}
	if c.Catalog == nil {
		errs = append(errs, errors.New("api: Config.Catalog is required"))
	} else {
		if err := c.Catalog.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("api: Config.Catalog: %w", err))
		}
		for name := range c.Endpoints {
			if c.Catalog.Backend(name) == nil {
				errs = append(errs, fmt.Errorf("api: Config.Endpoints names backend %q, which is not in the catalog", name))
			}
		}
	}
	if c.RateLimit < 0 || c.RateLimit > RateLimitMax || c.RateBurst < 0 || c.RateLimitBuckets < 0 {
		errs = append(errs, fmt.Errorf("api: Config.RateLimit (%d) must be 0 to %d, RateBurst (%d) and RateLimitBuckets (%d) not negative",
			c.RateLimit, RateLimitMax, c.RateBurst, c.RateLimitBuckets))
	}
	if c.BudgetDefaults.MonthlyLimit < 0 {
		errs = append(errs, fmt.Errorf("api: Config.BudgetDefaults.MonthlyLimit must not be negative, got %s", c.BudgetDefaults.MonthlyLimit))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("api: Config.MaxBodyBytes must be positive, got %d", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Server is the ingest service's HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	jobs    *jobwrite.Writer // every job and key write
	mux     *http.ServeMux
	handler http.Handler
	limiter *keyLimiter  // nil: no rate limit
	valid   *validKeys   // usable keys read lately
	refused *refusedKeys // keys that failed authentication lately
}

// New validates cfg (after WithDefaults) and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		limiter: newKeyLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitBuckets),
		valid:   newKeyCache[store.APIKey](ValidKeyTTL, ValidKeysMax),
		refused: newKeyCache[struct{}](RefusedKeyTTL, RefusedKeysMax)}
	s.jobs = jobwrite.New(jobwrite.Config{Store: cfg.Store, Publisher: cfg.Queue, Stage: StageIngest, Now: cfg.Now,
		Logger: cfg.Logger, Metrics: cfg.Metrics, BudgetDefaults: cfg.BudgetDefaults})
	s.routes()
	s.handler = s.observe(s.recoverPanics(http.HandlerFunc(s.dispatch)))
	return s, nil
}

// Handler returns the http.Handler of the API: every route of DESIGN.md,
// plus GET /v1/admin/reconcile, behind per-request tracing, access logging and
// panic recovery. Unknown routes are JSON 404s, wrong methods JSON 405s.
func (s *Server) Handler() http.Handler { return s.handler }

// routes registers every route. Handlers return errors, which become error
// responses in one place (errorResponse).
func (s *Server) routes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	if s.cfg.MetricsHandler != nil {
		s.mux.Handle("GET /metrics", s.cfg.MetricsHandler)
	}
	if s.cfg.Console != nil {
		for _, p := range []string{"GET /console", "GET /console/{$}", "GET /console/assets/"} {
			s.mux.Handle(p, s.cfg.Console)
		}
	}

	s.handle("POST /v1/jobs", s.withProject(s.createJob))
	s.handle("GET /v1/jobs", s.withProject(s.listJobs))
	s.handle("GET /v1/jobs/{id}", s.withProject(s.getJob))
	s.handle("POST /v1/jobs/{id}/cancel", s.withProject(s.cancelJob))
	s.handle("GET /v1/jobs/{id}/events", s.withProject(s.jobEvents))
	if s.cfg.Spans != nil {
		s.handle("GET /v1/jobs/{id}/spans", s.withProject(s.jobSpans))
	}
	s.handle("GET /v1/backends", s.withProject(s.listBackends))
	s.handle("GET /v1/budget", s.withProject(s.getBudget))
	s.handle("GET /v1/usage", s.withProject(s.getUsage))
	s.handle("GET /v1/forecast", s.withProject(s.getForecast))
	s.handle("GET /v1/recommendations", s.withProject(s.getRecommendations))

	// Every admin route takes the admin key.
	for _, rt := range []struct {
		pattern string
		h       handlerFunc
	}{
		{"PATCH /v1/admin/backends/{name}", s.patchBackend},
		{"POST /v1/admin/projects/{project}/keys", s.createKey},
		{"GET /v1/admin/projects/{project}/keys", s.listKeys},
		{"DELETE /v1/admin/projects/{project}/keys/{key_id}", s.revokeKey},
		{"PUT /v1/admin/projects/{project}/budget", s.putBudget},
		{"POST /v1/admin/projects/{project}/webhook-secret", s.rotateWebhookSecret},
		{"PUT /v1/admin/projects/{project}/notifications", s.putNotifications},
		{"GET /v1/admin/projects/{project}/notifications", s.getNotifications},
		{"GET /v1/admin/reconcile", s.reconcile},
		{"GET /v1/admin/jobs", s.adminListJobs},
		{"GET /v1/admin/dlq", s.listDeadLetters},
		{"POST /v1/admin/dlq/replay", s.replayDeadLetters},
	} {
		s.handle(rt.pattern, s.withAdmin(rt.h))
	}
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
