package router

import (
	"context"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/store"
)

// Defaults of the figures cache (Config.StatsTTL, Config.LoadTTL).
const (
	// StatsTTLDefault: the learned figures change once a minute at most
	// (the usage roller's rounds).
	StatsTTLDefault = 30 * time.Second
	// LoadTTLDefault: the backends' load is read as often as their health.
	LoadTTLDefault = 2 * time.Second
	// maxCounted bounds a count of queued jobs: past it a backend is
	// hopelessly behind anyway.
	maxCounted = 10000
)

// figuresCache is what the router knows of each backend for ranking (see
// the package doc, "Learned figures and load"): the learned figures
// (store.ListBackendStats, read every statsTTL) by job shape, and the load
// of each backend with a concurrency cap (its slot table, store.ReadSlots,
// and its jobs dispatched and not running, store.CountJobs; read every
// loadTTL), plus what this router dispatched since. It uses the wall clock.
// Reads are made by the job that finds the cache stale, one at a time; the
// others route on what is there.
type figuresCache struct {
	st                store.Store
	cat               *catalog.Catalog
	statsTTL, loadTTL time.Duration
	log               *slog.Logger

	mu         sync.Mutex
	statsAt    time.Time
	stats      map[string]store.BackendStats       // by backend
	byShape    map[string]map[string]learn.Figures // shape → backend → figures, of stats
	loadAt     time.Time
	load       map[string]routing.Load // as read
	local      map[string]int          // dispatched by this router since the load was read
	refreshing bool
}

func newFiguresCache(st store.Store, cat *catalog.Catalog, statsTTL, loadTTL time.Duration, log *slog.Logger) *figuresCache {
	return &figuresCache{st: st, cat: cat, statsTTL: statsTTL, loadTTL: loadTTL, log: log,
		byShape: map[string]map[string]learn.Figures{}, load: map[string]routing.Load{}, local: map[string]int{}}
}

// get returns every catalog backend's figures for jobs of shape and its
// load, as last read (refresh reads them). It makes no I/O: routing calls
// it inside the job's transaction.
func (f *figuresCache) get(shape string) map[string]routing.BackendStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	figs, ok := f.byShape[shape]
	if !ok {
		figs = learn.EstimateAll(f.cat.Names(), f.stats, shape, time.Now(), learn.DefaultPrior)
		f.byShape[shape] = figs
	}
	return routing.WithLoad(figs, f.load, f.local)
}

// dispatched counts a job this router dispatched to backend, until the
// next read of the load sees it.
func (f *figuresCache) dispatched(backend string) {
	f.mu.Lock()
	f.local[backend]++
	f.mu.Unlock()
}

// refresh reads what is stale, unless another job is reading.
func (f *figuresCache) refresh(ctx context.Context) {
	f.mu.Lock()
	now := time.Now()
	statsDue := f.statsAt.IsZero() || (f.statsTTL >= 0 && now.Sub(f.statsAt) >= f.statsTTL)
	loadDue := f.loadAt.IsZero() || (f.loadTTL >= 0 && now.Sub(f.loadAt) >= f.loadTTL)
	if f.refreshing || (!statsDue && !loadDue) {
		f.mu.Unlock()
		return
	}
	f.refreshing = true
	seen := make(map[string]int, len(f.local))
	for b, n := range f.local {
		seen[b] = n
	}
	f.mu.Unlock()

	var stats map[string]store.BackendStats
	if statsDue {
		stats = f.readStats(ctx)
	}
	var load map[string]routing.Load
	if loadDue {
		load = f.readLoad(ctx, now)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshing = false
	if statsDue {
		f.statsAt = now // on failure too: retried after the TTL, not by every job
		if stats != nil {
			f.stats, f.byShape = stats, map[string]map[string]learn.Figures{}
		}
	}
	if loadDue {
		f.loadAt = now
		if load != nil {
			f.load = load
			for b, n := range seen { // now counted by the store
				f.local[b] -= n
			}
		}
	}
}

func (f *figuresCache) readStats(ctx context.Context) map[string]store.BackendStats {
	list, err := f.st.ListBackendStats(ctx)
	if err != nil {
		f.log.WarnContext(ctx, "read learned backend figures", "error", err)
		return nil
	}
	out := make(map[string]store.BackendStats, len(list))
	for _, s := range list {
		out[s.Backend] = s
	}
	return out
}

// readLoad reads the load of every backend with a concurrency cap; nil
// when a read failed (the last load is kept).
func (f *figuresCache) readLoad(ctx context.Context, now time.Time) map[string]routing.Load {
	out := make(map[string]routing.Load, len(f.cat.Backends))
	for i := range f.cat.Backends {
		b := &f.cat.Backends[i]
		if b.Concurrency <= 0 {
			continue // no slots: no wait
		}
		slots, _, err := store.ReadSlots(ctx, f.st, b.Name, b.Concurrency)
		if err != nil {
			f.log.WarnContext(ctx, "read backend load: slots", "backend", b.Name, "error", err)
			return nil
		}
		queued, err := f.st.CountJobs(ctx, store.ListJobsQuery{AllProjects: true, Status: job.StatusDispatched, Backend: b.Name}, maxCounted)
		if err != nil {
			f.log.WarnContext(ctx, "read backend load: dispatched jobs", "backend", b.Name, "error", err)
			return nil
		}
		l := routing.Load{Queued: queued}
		for _, sl := range slots {
			if sl.HeldAt(now) {
				l.InUse++
			}
		}
		out[b.Name] = l
	}
	return out
}

// exploreDraw is job j's draw for exploration: uniform in [0, 1), the same
// for every routing of its attempt n (a redelivery decides alike).
func exploreDraw(jobID string, n int) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(jobID))
	_, _ = h.Write([]byte("#" + strconv.Itoa(n)))
	return float64(h.Sum64()>>11) / (1 << 53)
}
