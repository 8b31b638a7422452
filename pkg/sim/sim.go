// Package sim is the core shared by AIPROD's simulated video backends.
//
// Each simulator (sim/runwaysim, sim/lumasim, ...) speaks one provider's real
// HTTP protocol so that the real adapters talk to it; this package holds
// what they have in common: generations that move through queued → running
// → succeeded over a configurable time, fault injection, statistics, and the
// video files they point to.
//
// # Dev-stack contract
//
// Every simulator serves, besides its provider's protocol:
//
//   - POST /__sim/faults with {"error_rate": 0..1, "latency_ms": n, "down": bool,
//     "status": n} (fields absent keep their value; "status", optional, is the
//     HTTP status of the injected errors, 400..599, instead of a random one of
//     429, 500 and 502); answers the faults now in force;
//   - GET /__sim/stats → {"submitted": n, "repeated_prompts": n, ...}, where
//     repeated_prompts counts submissions whose prompt text this simulator
//     had already accepted;
//   - GET /__sim/videos/{id}.mp4, the generated "video".
//
// # Prompt directives
//
// A prompt containing "[sim:unsafe]" is rejected by the provider's safety
// filter; "[sim:fail]" makes the generation fail at the provider.
//
// # Protocol gate
//
// Before serving a protocol call every simulator does the same things, in
// Gate: it takes the base URL of video links from the first request when
// none is set, applies the injected faults (answering in the provider's
// error shape, with "Retry-After: 1" on 429) and checks the credential
// (any non-empty one, or only the one given to Core.SetCredential).
//
// # Server
//
// A simulator embeds a Server: NewServer builds its Core and one handler
// that serves the provider's routes behind its Gate and the /__sim
// endpoints, and gives the simulator its Core and Handler methods.
package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Faults are the injected faults of a simulator.
type Faults struct {
	ErrorRate float64 `json:"error_rate"` // share of API calls answered with a transient error
	LatencyMS int     `json:"latency_ms"` // added to every API call
	Down      bool    `json:"down"`       // every API call fails with 503
	// Status, when non-zero, is the HTTP status (400..599) of the errors
	// ErrorRate injects, instead of a random one of 429, 502 and 500: with
	// ErrorRate 1 it makes every call fail with that status, e.g. 429.
	Status int `json:"status,omitempty"`
}

// Stats are a simulator's counters.
type Stats struct {
	Submitted       int `json:"submitted"`
	RepeatedPrompts int `json:"repeated_prompts"`
	Polls           int `json:"polls"`
	Canceled        int `json:"canceled"`
	InjectedErrors  int `json:"injected_errors"`
	Running         int `json:"running"`
}

// State of a simulated generation.
type State string

// The states.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Canceled  State = "canceled"
)

// Failure kinds of a generation.
const (
	FailureSafety = "safety"
	FailureError  = "error"
)

// Generation is one simulated generation, as its simulator sees it now.
type Generation struct {
	ID              string
	Prompt          string
	Model           string
	DurationSeconds int
	State           State
	Progress        float64
	Failure         string // FailureSafety or FailureError when State is Failed
	VideoURL        string
	CreatedAt       time.Time
	Extra           map[string]any // the protocol's own request fields, echoed back
}

// Config tunes a simulator's core.
type Config struct {
	// QueueTime and RunTime are how long a generation stays queued and
	// running. Zero values take the defaults below.
	QueueTime time.Duration
	RunTime   time.Duration
	// BaseURL is where the simulator is reachable (for video URLs); set by
	// the server after it listens, when empty at construction.
	BaseURL string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Defaults.
const (
	QueueTimeDefault = 200 * time.Millisecond
	RunTimeDefault   = 800 * time.Millisecond
)

type gen struct {
	Generation
	seq        int64 // submission order, to order generations created at the same instant
	canceledAt time.Time
}

// Core holds a simulator's generations, faults and statistics. Safe for
// concurrent use.
type Core struct {
	mu      sync.Mutex
	cfg     Config
	faults  Faults
	stats   Stats
	gens    map[string]*gen
	prompts map[string]bool
	seq     int64
	// credential is the only credential the protocol accepts; "" accepts
	// any non-empty one.
	credential string
}

// NewCore returns a core with cfg's defaults applied.
func NewCore(cfg Config) *Core {
	if cfg.QueueTime == 0 {
		cfg.QueueTime = QueueTimeDefault
	}
	if cfg.RunTime == 0 {
		cfg.RunTime = RunTimeDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Core{cfg: cfg, gens: map[string]*gen{}, prompts: map[string]bool{}}
}

// Config returns the core's configuration with its defaults applied (the
// clock, queue and run times a protocol may render timestamps with) and
// the base URL now in force.
func (c *Core) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Now reads the core's clock (Config.Now).
func (c *Core) Now() time.Time { return c.cfg.Now() }

// SetBaseURL sets the URL video links are built on.
func (c *Core) SetBaseURL(u string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.BaseURL = strings.TrimRight(u, "/")
}

// setBaseURLIfEmpty sets the base URL of video links unless one is set.
func (c *Core) setBaseURLIfEmpty(u string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.BaseURL == "" {
		c.cfg.BaseURL = strings.TrimRight(u, "/")
	}
}

// SetCredential makes the simulator's protocol accept only credential (the
// API key or token after the Authorization scheme); "" accepts any
// non-empty one, the default.
func (c *Core) SetCredential(credential string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.credential = credential
}

// Credential returns the credential set with SetCredential.
func (c *Core) Credential() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.credential
}

// SetFaults replaces the faults in force.
func (c *Core) SetFaults(f Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
}

// Faults returns the faults in force.
func (c *Core) Faults() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// Stats returns the counters.
func (c *Core) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	now := c.cfg.Now()
	for _, g := range c.gens {
		if c.stateLocked(g, now) == Running {
			s.Running++
		}
	}
	return s
}

// Inject applies the faults to one API call. It sleeps for the latency and
// returns the HTTP status to fail the call with, or 0 to serve it. Protocol
// handlers call it first and, when it is non-zero, answer with their
// protocol's error body for that status.
func (c *Core) Inject() int {
	c.mu.Lock()
	f := c.faults
	c.mu.Unlock()
	if f.LatencyMS > 0 {
		time.Sleep(time.Duration(f.LatencyMS) * time.Millisecond)
	}
	fail := f.Down
	if !fail && f.ErrorRate > 0 && mrand.Float64() < f.ErrorRate {
		fail = true
	}
	if !fail {
		return 0
	}
	c.mu.Lock()
	c.stats.InjectedErrors++
	c.mu.Unlock()
	if f.Down {
		return http.StatusServiceUnavailable
	}
	if f.Status != 0 {
		return f.Status
	}
	// Transient errors come in the shapes providers really send.
	switch mrand.IntN(3) {
	case 0:
		return http.StatusTooManyRequests
	case 1:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// Submit accepts a generation and returns it. Prompts with "[sim:unsafe]"
// are still accepted here: the safety failure shows when polled, as most
// providers do; protocols that reject at submit check SafetyRejected first.
func (c *Core) Submit(prompt, model string, durationSeconds int, extra map[string]any) Generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Submitted++
	if c.prompts[prompt] {
		c.stats.RepeatedPrompts++
	}
	c.prompts[prompt] = true
	id := newID()
	c.seq++
	g := &gen{seq: c.seq, Generation: Generation{
		ID: id, Prompt: prompt, Model: model, DurationSeconds: durationSeconds,
		CreatedAt: c.cfg.Now(), Extra: extra,
	}}
	c.gens[id] = g
	return c.viewLocked(g, c.cfg.Now())
}

// SafetyRejected reports whether a prompt trips the simulated safety filter.
func SafetyRejected(prompt string) bool { return strings.Contains(prompt, "[sim:unsafe]") }

// Get returns a generation as it is now.
func (c *Core) Get(id string) (Generation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Polls++
	g, ok := c.gens[id]
	if !ok {
		return Generation{}, false
	}
	return c.viewLocked(g, c.cfg.Now()), true
}

// List returns every generation as it is now, newest first (by creation
// time, then by submission order). Unlike Get it does not count as a poll.
func (c *Core) List() []Generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := make([]*gen, 0, len(c.gens))
	for _, g := range c.gens {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *gen) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	})
	now := c.cfg.Now()
	out := make([]Generation, len(gs))
	for i, g := range gs {
		out[i] = c.viewLocked(g, now)
	}
	return out
}

// Cancel cancels a generation that is not finished. It returns the
// generation and whether it existed.
func (c *Core) Cancel(id string) (Generation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gens[id]
	if !ok {
		return Generation{}, false
	}
	now := c.cfg.Now()
	switch c.stateLocked(g, now) {
	case Queued, Running:
		g.canceledAt = now
		c.stats.Canceled++
	}
	return c.viewLocked(g, now), true
}

// Delete forgets a generation.
func (c *Core) Delete(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.gens[id]
	delete(c.gens, id)
	return ok
}

func (c *Core) stateLocked(g *gen, now time.Time) State {
	if !g.canceledAt.IsZero() {
		return Canceled
	}
	age := now.Sub(g.CreatedAt)
	switch {
	case age < c.cfg.QueueTime:
		return Queued
	case age < c.cfg.QueueTime+c.cfg.RunTime:
		return Running
	case SafetyRejected(g.Prompt), strings.Contains(g.Prompt, "[sim:fail]"):
		return Failed
	}
	return Succeeded
}

func (c *Core) viewLocked(g *gen, now time.Time) Generation {
	v := g.Generation
	v.State = c.stateLocked(g, now)
	switch v.State {
	case Running:
		p := float64(now.Sub(g.CreatedAt)-c.cfg.QueueTime) / float64(c.cfg.RunTime)
		v.Progress = math.Min(math.Max(p, 0), 0.99)
	case Succeeded:
		v.Progress = 1
		v.VideoURL = fmt.Sprintf("%s/__sim/videos/%s.mp4", c.cfg.BaseURL, g.ID)
	case Failed:
		v.Failure = FailureError
		if SafetyRejected(g.Prompt) {
			v.Failure = FailureSafety
		}
	}
	return v
}

// Mount adds the /__sim endpoints to mux.
func (c *Core) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /__sim/faults", c.serveFaults)
	mux.HandleFunc("GET /__sim/faults", func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, http.StatusOK, c.Faults()) })
	mux.HandleFunc("GET /__sim/stats", func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, http.StatusOK, c.Stats()) })
	mux.HandleFunc("GET /__sim/videos/{file}", c.serveVideo)
}

func (c *Core) serveFaults(w http.ResponseWriter, r *http.Request) {
	f := c.Faults()
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
		return
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LatencyMS < 0 || math.IsNaN(f.ErrorRate) {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: error_rate must be 0..1 and latency_ms >= 0"})
		return
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: status must be 400..599 (or 0 for a random transient one)"})
		return
	}
	c.SetFaults(f)
	WriteJSON(w, http.StatusOK, f)
}

// VideoBytes is the content of every simulated video: the start of an MP4
// file (an ftyp box), enough for content sniffers and copy tests.
var VideoBytes = []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isomAIPROD-SIMULATED-VIDEO")

func (c *Core) serveVideo(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("file"), ".mp4")
	g, ok := c.Get(id)
	if !ok || g.State != Succeeded {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	_, _ = w.Write(VideoBytes)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newID() string { return uuid.NewString() }
