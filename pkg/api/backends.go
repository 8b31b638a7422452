package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/store"
)

// BackendView is one backend as GET /v1/backends shows it: the catalog's
// capabilities and prices merged with the stored state (enabled flag and
// circuit breaker).
type BackendView struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Enabled  bool   `json:"enabled"`
	// Circuit is the stored breaker state. An open circuit whose cool-down
	// has passed is still "open" until a router takes its probe; NextProbeAt
	// says from when that may happen.
	Circuit             circuit.State `json:"circuit"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	LastError           string        `json:"last_error"`
	OpenedAt            *time.Time    `json:"opened_at,omitempty"`
	NextProbeAt         *time.Time    `json:"next_probe_at,omitempty"`
	Capabilities        Capabilities  `json:"capabilities"`
	Prices              []PriceView   `json:"prices"`
	// Endpoint is shown only in dev mode (Config.Endpoints).
	Endpoint string `json:"endpoint,omitempty"`
	// Stats are what routing learned of the backend (DESIGN "Economics").
	Stats client.BackendStats `json:"stats"`
	// Concurrency is the catalog's cap on the generations running at once
	// on the backend, and InFlight how many of its slots are held now,
	// across every worker instance (its slot table). Both are omitted for a
	// backend without a cap, which has no slots to count.
	Concurrency int  `json:"concurrency,omitempty"`
	InFlight    *int `json:"in_flight,omitempty"`
}

// Capabilities is what a backend can generate: the union over its offers,
// and each offer (model) on its own.
type Capabilities struct {
	Tiers []job.Tier `json:"tiers"`
	catalog.Formats
	Models []ModelView `json:"models"`
}

// ModelView is one offer's capabilities.
type ModelView struct {
	Model string   `json:"model"`
	Tier  job.Tier `json:"tier"`
	catalog.Formats
}

// PriceView is one row of a backend's price table, with its model.
type PriceView struct {
	Model string   `json:"model"`
	Tier  job.Tier `json:"tier"`
	catalog.Price
}

// BackendList is the body of GET /v1/backends.
type BackendList struct {
	Backends []BackendView `json:"backends"`
}

// backendView merges catalog backend b with its stored state st and what
// was learned of it, learned.
func (s *Server) backendView(b *catalog.Backend, st store.BackendState, learned store.BackendStats) BackendView {
	br := st.Breaker
	v := BackendView{
		Name:                b.Name,
		Provider:            b.Provider,
		Enabled:             !st.Disabled,
		Circuit:             br.Current(),
		ConsecutiveFailures: br.ConsecutiveFailures,
		LastError:           circuit.SharedText(br.LastError), // also what was stored before it was sanitized
		Endpoint:            s.cfg.Endpoints[b.Name],
		Prices:              []PriceView{},
		Stats:               statsView(&learned, s.cfg.Now()),
	}
	if v.Circuit == circuit.Open && !br.OpenedAt.IsZero() {
		opened, next := br.OpenedAt.UTC(), br.OpenedAt.Add(s.cfg.Circuit.Cooldown).UTC()
		v.OpenedAt, v.NextProbeAt = &opened, &next
	}
	c := &v.Capabilities
	c.Models = []ModelView{}
	for _, o := range b.Offers {
		c.Models = append(c.Models, ModelView{Model: o.Model, Tier: o.Tier, Formats: o.Formats})
		c.Tiers = appendNew(c.Tiers, o.Tier)
		c.Resolutions = appendNew(c.Resolutions, o.Resolutions...)
		c.AspectRatios = appendNew(c.AspectRatios, o.AspectRatios...)
		c.Durations = appendNew(c.Durations, o.Durations...)
		c.TextToVideo = c.TextToVideo || o.TextToVideo
		c.ImageToVideo = c.ImageToVideo || o.ImageToVideo
		c.Audio = c.Audio || o.Audio
		for _, p := range o.Prices {
			v.Prices = append(v.Prices, PriceView{Model: o.Model, Tier: o.Tier, Price: p})
		}
	}
	slices.SortFunc(c.Tiers, func(a, b job.Tier) int { return a.Rank() - b.Rank() })
	slices.SortFunc(c.Resolutions, func(a, b job.Resolution) int { return resRank(a) - resRank(b) })
	slices.Sort(c.Durations)
	return v
}

// resRank orders resolutions from the lowest.
func resRank(r job.Resolution) int {
	return slices.Index([]job.Resolution{job.Res540p, job.Res720p, job.Res1080p, job.Res4K}, r)
}

// appendNew appends the values of vs that list lacks.
func appendNew[T comparable](list []T, vs ...T) []T {
	for _, v := range vs {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// listBackends is GET /v1/backends: every backend of the catalog, in
// catalog order; one without stored state is enabled with a closed circuit.
func (s *Server) listBackends(w http.ResponseWriter, r *http.Request, _ string) error {
	states, err := s.cfg.Store.ListBackends(r.Context())
	if err != nil {
		return unexpected(err, "list backends")
	}
	byName := make(map[string]store.BackendState, len(states))
	for _, st := range states {
		byName[st.Name] = st
	}
	learned, err := s.learned(r.Context())
	if err != nil {
		return err
	}
	out := BackendList{Backends: make([]BackendView, 0, len(s.cfg.Catalog.Backends))}
	for i := range s.cfg.Catalog.Backends {
		b := &s.cfg.Catalog.Backends[i]
		v := s.backendView(b, byName[b.Name], learned[b.Name])
		if err := s.countInFlight(r.Context(), b, &v); err != nil {
			return err
		}
		out.Backends = append(out.Backends, v)
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// countInFlight sets v's Concurrency and InFlight from b's slot table
// (one read) when b has a concurrency cap; a backend without one is left
// as it is.
func (s *Server) countInFlight(ctx context.Context, b *catalog.Backend, v *BackendView) error {
	if b.Concurrency <= 0 {
		return nil
	}
	slots, _, err := store.ReadSlots(ctx, s.cfg.Store, b.Name, b.Concurrency)
	if err != nil {
		return unexpected(err, "read the slots of "+b.Name)
	}
	now, n := s.cfg.Now(), 0
	for _, sl := range slots {
		if sl.HeldAt(now) {
			n++
		}
	}
	v.Concurrency, v.InFlight = b.Concurrency, &n
	return nil
}

// BackendPatch is the body of PATCH /v1/admin/backends/{name}.
type BackendPatch struct {
	Enabled *bool `json:"enabled"`
}

// patchBackend is PATCH /v1/admin/backends/{name}: drain or restore a
// backend. The circuit is left as it is.
func (s *Server) patchBackend(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	b := s.cfg.Catalog.Backend(name)
	if b == nil {
		return &httpError{status: http.StatusNotFound, ErrorDetail: ErrorDetail{
			Code: CodeNotFound, Message: fmt.Sprintf("backend %q is not in the catalog", name),
		}}
	}
	patch, err := readJSON[BackendPatch](s, w, r)
	if err != nil {
		return err
	}
	if patch.Enabled == nil {
		return invalid("enabled", "is required: true to restore the backend, false to drain it")
	}
	st, err := store.UpdateBackend(ctx, s.cfg.Store, name, s.cfg.Now(), func(st *store.BackendState) error {
		st.Disabled = !*patch.Enabled
		return nil
	})
	if err != nil {
		return unexpected(err, "update backend "+name)
	}
	s.log.InfoContext(ctx, "backend updated by admin", slog.String("backend", name), slog.Bool("enabled", *patch.Enabled))
	learned, err := s.learned(ctx)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.backendView(b, st, learned[name]))
	return nil
}

// learned reads what was learned of every backend, by name.
func (s *Server) learned(ctx context.Context) (map[string]store.BackendStats, error) {
	list, err := s.cfg.Store.ListBackendStats(ctx)
	if err != nil {
		return nil, unexpected(err, "list backend stats")
	}
	out := make(map[string]store.BackendStats, len(list))
	for _, st := range list {
		out[st.Backend] = st
	}
	return out, nil
}

// statsView shows learned figures at now: over every shape, and per shape.
func statsView(st *store.BackendStats, now time.Time) client.BackendStats {
	v := client.BackendStats{StatsFigures: figuresView(learn.Overall(st, now, learn.DefaultPrior)), Shapes: []client.ShapeStats{}}
	var last time.Time
	for _, c := range st.Cells {
		v.Shapes = append(v.Shapes, client.ShapeStats{Shape: c.Shape, StatsFigures: figuresView(learn.Estimate(st, c.Shape, now, learn.DefaultPrior))})
		if c.At.After(last) {
			last = c.At
		}
	}
	if !last.IsZero() {
		last = last.UTC()
		v.LastSampleAt = &last
	}
	return v
}

func figuresView(f learn.Figures) client.StatsFigures {
	round := func(x float64, digits float64) float64 { p := math.Pow(10, digits); return math.Round(x*p) / p }
	return client.StatsFigures{
		SuccessRate: round(f.Success, 4), P50Seconds: round(f.P50.Seconds(), 1), P95Seconds: round(f.P95.Seconds(), 1),
		Samples: int(math.Round(f.Samples)), CostAccuracy: round(f.CostAccuracy, 4),
	}
}
