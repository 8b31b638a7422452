package sweeper_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

// backlogCatalog: alpha runs 2 generations at once, beta has no cap.
const backlogCatalog = `{"version": "test", "backends": [
  {"name": "alpha", "provider": "luma", "endpoint": "http://alpha", "concurrency": 2, "offers": [
    {"model": "a1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5],
     "text_to_video": true, "prices": [{"per_second_usd": 0.10, "source": "test", "as_of": "2026-01-01"}]}]},
  {"name": "beta", "provider": "runway", "endpoint": "http://beta", "offers": [
    {"model": "b1", "tier": "standard", "resolutions": ["720p"], "aspect_ratios": ["16:9"], "durations": [5],
     "text_to_video": true, "prices": [{"per_second_usd": 0.12, "source": "test", "as_of": "2026-01-01"}]}]}]}`

func withCatalog(t *testing.T) func(*sweeper.Config) {
	cat, err := catalog.Parse([]byte(backlogCatalog))
	require.NoError(t, err)
	return func(c *sweeper.Config) { c.Catalog = cat }
}

// on moves a job's attempt to backend name.
func on(name string) func(*job.Job) {
	return func(j *job.Job) { j.Backend, j.Attempts[0].Backend = name, name }
}

// hold has every alpha slot taken by attempts dispatched `dispatched` ago
// and started a minute ago, as workers leave them in a long backlog.
func (e *env) hold(dispatched time.Duration) []store.Slot {
	e.t.Helper()
	var slots []store.Slot
	for i := range 2 {
		sl, err := store.AcquireSlot(e.ctx, e.st, store.SlotClaim{Backend: "alpha", Capacity: 2, Holder: fmt.Sprintf("h%d#1", i),
			Project: "dev", Lease: time.Hour, DispatchedAt: now.Add(-dispatched)}, now.Add(-time.Minute))
		require.NoError(e.t, err)
		slots = append(slots, sl)
	}
	return slots
}

func (e *env) redriven(id string) bool { return e.get(id).Redrives > 0 }

// TestBacklogDefersItsDispatchedJobs: while alpha's slots are all held by
// work dispatched 10 minutes ago, its dispatched jobs may wait 5m + 2·10m
// without a re-drive (and are not even read); one waiting longer is
// re-driven, with the backlog in the reason; once the backlog drains, the
// plain horizon applies.
func TestBacklogDefersItsDispatchedJobs(t *testing.T) {
	t.Parallel()
	e := setup(t, withCatalog(t))
	slots := e.hold(10 * time.Minute)
	waiting := e.put(job.StatusDispatched, 24*time.Minute)
	lost := e.put(job.StatusDispatched, 26*time.Minute)

	res := e.sweep()
	require.Equal(t, map[string]time.Duration{"alpha": 20 * time.Minute}, res.Busy)
	require.Equal(t, 1, res.Examined, "the waiting job is not read")
	require.Equal(t, 1, res.Redriven)
	require.False(t, e.redriven(waiting.ID))
	require.True(t, e.redriven(lost.ID))
	evs := e.events(lost.ID)
	require.Contains(t, evs[len(evs)-1].Message, "its backend is busy with work up to 10m0s old: 20m0s allowed")

	// The backlog drains: nothing holds a slot, nothing waits for one.
	for _, sl := range slots {
		require.NoError(t, store.ReleaseSlot(e.ctx, e.st, sl, now.Add(-time.Minute)))
	}
	res = e.sweep()
	require.Nil(t, res.Busy)
	require.Equal(t, 1, res.Redriven)
	require.True(t, e.redriven(waiting.ID), "past DispatchedAfter with no backlog to explain it")
}

// TestBacklogMarksKeepABackendBusy: a backend whose slots turn over so fast
// that one is free when the sweep reads them is still busy while claims are
// refused (fresh waiting marks).
func TestBacklogMarksKeepABackendBusy(t *testing.T) {
	t.Parallel()
	e := setup(t, withCatalog(t))
	slots := e.hold(10 * time.Minute)
	require.NoError(t, store.ReleaseSlot(e.ctx, e.st, slots[0], now.Add(-time.Minute)))
	_, err := store.AcquireSlot(e.ctx, e.st, store.SlotClaim{Backend: "alpha", Capacity: 2, Holder: "h1#1", Project: "dev",
		Lease: time.Hour}, now) // re-entry: 1 held
	require.NoError(t, err)
	waiting := e.put(job.StatusDispatched, 20*time.Minute)
	require.Equal(t, 1, e.sweep().Redriven, "a free slot and no mark: not busy")
	require.True(t, e.redriven(waiting.ID))

	other := e.put(job.StatusDispatched, 20*time.Minute)
	for i := range 2 { // alpha full again, and a claim refused: a mark
		_, _ = store.AcquireSlot(e.ctx, e.st, store.SlotClaim{Backend: "alpha", Capacity: 2, Holder: fmt.Sprintf("n%d#1", i),
			Project: "dev", Lease: time.Hour}, now)
	}
	require.NoError(t, store.ReleaseSlot(e.ctx, e.st, store.Slot{Backend: "alpha", Index: 0, Holder: "n0#1"}, now.Add(-time.Minute)))
	res := e.sweep()
	require.Equal(t, map[string]time.Duration{"alpha": 20 * time.Minute}, res.Busy, "h1 dispatched 10m ago")
	require.Equal(t, 0, res.Redriven)
	require.False(t, e.redriven(other.ID))
}

// TestBacklogDoesNotHideOtherBackends: alpha's waiting jobs fill more than
// a batch, and beta's lost job is still found (dispatched jobs are read per
// backend). One sweep query for every backend would return only alpha's.
func TestBacklogDoesNotHideOtherBackends(t *testing.T) {
	t.Parallel()
	e := setup(t, withCatalog(t), func(c *sweeper.Config) { c.Batch = 2 })
	require.NoError(t, e.q.EnsureTopic(e.ctx, queue.DispatchTopic("beta")))
	e.hold(10 * time.Minute)
	for range 3 {
		e.put(job.StatusDispatched, 20*time.Minute)
	}
	lost := e.put(job.StatusDispatched, 6*time.Minute, on("beta"))
	res := e.sweep()
	require.Equal(t, 1, res.Redriven)
	require.True(t, e.redriven(lost.ID))
	msgs := e.q.Published(queue.DispatchTopic("beta"))
	require.Len(t, msgs, 1)
	require.Equal(t, lost.ID, msgs[0].Attributes[queue.AttrJobID])
}

// TestBacklogUnknownBackendStillEnds: a job dispatched to a backend that
// left the catalog is not swept with the others, but reaches its hard
// timeout like every job.
func TestBacklogUnknownBackendStillEnds(t *testing.T) {
	t.Parallel()
	e := setup(t, withCatalog(t))
	gone := e.put(job.StatusDispatched, 3*time.Hour+time.Minute, on("gone"), func(j *job.Job) { j.CreatedAt = now.Add(-4 * time.Hour) })
	recent := e.put(job.StatusDispatched, time.Hour, on("gone"))
	require.Equal(t, 1, e.sweep().Failed)
	require.Equal(t, job.StatusFailed, e.get(gone.ID).Status)
	require.Equal(t, job.CodeTimeout, e.get(gone.ID).Error.Code)
	require.Equal(t, job.StatusDispatched, e.get(recent.ID).Status)
}
