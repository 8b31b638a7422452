package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// testListStale pins store.StaleJobs: the status filter, the strict
// updated_at bound, every project, the order (updated_at, then id), the
// limit, argument errors, and that the sweeper's fields (Redrives,
// RedrivenAt) round-trip.
func testListStale(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	mk := func(project string, status job.Status, updated time.Time) *job.Job {
		j := newJob(project, t0.Add(-time.Hour))
		j.Status = status
		j.UpdatedAt = updated
		mustCreate(t, s, j)
		return j
	}
	q1 := mk("proj-a", job.StatusQueued, at(0))
	q2 := mk("proj-b", job.StatusQueued, at(time.Second))
	q3 := mk("proj-a", job.StatusQueued, at(0)) // same updated_at as q1
	mk("proj-a", job.StatusQueued, at(10*time.Minute))
	d1 := mk("proj-b", job.StatusDispatched, at(0))
	mk("proj-b", job.StatusSucceeded, at(0))
	redriven := at(2 * time.Second)
	r1 := newJob("proj-c", t0.Add(-time.Hour))
	r1.Status, r1.UpdatedAt, r1.Redrives, r1.RedrivenAt = job.StatusRunning, redriven, 2, &redriven
	mustCreate(t, s, r1)

	ids := func(jobs []*job.Job) []string {
		out := []string{}
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	first, second := q1.ID, q3.ID
	if second < first {
		first, second = second, first
	}

	got, err := s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: at(5 * time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{first, second, q2.ID}, ids(got), "every project, oldest first, ties by id")

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: at(time.Second), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{first, second}, ids(got), "updated_at strictly before the bound")

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: at(5 * time.Minute), Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []string{first}, ids(got), "limit")

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: at(time.Hour), Limit: 0})
	require.NoError(t, err)
	require.Len(t, got, 4, "limit 0 is the default page size")

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusDispatched, UpdatedBefore: at(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{d1.ID}, ids(got))
	require.Equal(t, want(d1), got[0])

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusRunning, UpdatedBefore: at(time.Hour), Limit: 10})
	require.NoError(t, err)
	require.Len(t, got, 1)
	w := want(r1)
	w.RedrivenAt = normPtr(r1.RedrivenAt)
	require.Equal(t, w, got[0], "Redrives and RedrivenAt round-trip")
	require.Equal(t, time.UTC, got[0].RedrivenAt.Location())

	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusFailed, UpdatedBefore: at(time.Hour), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: time.Time{}, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = s.ListStale(ctx, store.StaleQuery{Status: job.Status("stuck"), UpdatedBefore: at(time.Hour), Limit: 10})
	require.ErrorIs(t, err, errclass.Permanent)
	_, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, UpdatedBefore: at(time.Hour), Limit: -1})
	require.ErrorIs(t, err, errclass.Permanent)
}

// testListStaleByBackend: StaleQuery.Backend keeps one backend's jobs (the
// latest attempt's, job.Job.Backend), with the same bound and order.
func testListStaleByBackend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	mk := func(backend string, updated time.Duration) *job.Job {
		j := newJob("proj-a", t0.Add(-time.Hour))
		j.Status, j.Backend, j.UpdatedAt = job.StatusDispatched, backend, t0.Add(updated)
		mustCreate(t, s, j)
		return j
	}
	f2 := mk("stale-fal", 2*time.Second)
	f1 := mk("stale-fal", time.Second)
	mk("stale-luma", 0)
	mk("stale-fal", time.Hour)

	ids := func(jobs []*job.Job) []string {
		out := []string{}
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	got, err := s.ListStale(ctx, store.StaleQuery{Status: job.StatusDispatched, Backend: "stale-fal", UpdatedBefore: t0.Add(time.Minute)})
	require.NoError(t, err)
	require.Equal(t, []string{f1.ID, f2.ID}, ids(got), "one backend's, oldest first")
	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusDispatched, Backend: "stale-fal", UpdatedBefore: t0.Add(time.Second)})
	require.NoError(t, err)
	require.Empty(t, got, "strictly before the bound")
	got, err = s.ListStale(ctx, store.StaleQuery{Status: job.StatusQueued, Backend: "stale-fal", UpdatedBefore: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, got, "and of the status")
}
