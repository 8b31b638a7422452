package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

func statsOf(backend string, shapes ...string) store.BackendStats {
	st := store.BackendStats{Backend: backend, Cells: []store.StatsCell{}, UpdatedAt: t0.Add(time.Minute)}
	for i, sh := range shapes {
		st.Cells = append(st.Cells, store.StatsCell{
			Shape: sh, Successes: 41.25 + float64(i), Failures: 0.5, Latency: []float64{0, 1.5, 39.75, 0.001},
			GenSeconds: 1234.5, CostRatio: 40.9, FailCostRatio: 0.25, At: t0.Add(time.Duration(i) * time.Second),
		})
	}
	st.Windows = []store.StatsWindow{
		{Start: t0, Successes: 12, Failures: 1, LogGen: 20.25, CostRatio: 11.5},
		{Start: t0.Add(5 * time.Minute), Successes: 3, LogGen: 4.5, CostRatio: 3},
	}
	st.Anomalies = []store.Anomaly{{Signal: "latency", Since: t0.Add(4 * time.Minute), Value: 9.5, Baseline: 2.25, Score: 6.5}}
	return st
}

// What was learned of a backend reads back as written, absent is empty,
// and a listing has every backend's, by name.
func testBackendStats(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetBackendStats("fal")
		require.NoError(t, err)
		require.Equal(t, store.BackendStats{Backend: "fal", Cells: []store.StatsCell{}}, got, "absent is empty")
		return nil
	}))
	fal := statsOf("fal", "draft/720p/5s/t2v", "standard/1080p/10s/i2v")
	luma := statsOf("luma", "premium/4k/60s/t2v")
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		if err := tx.PutBackendStats(luma); err != nil {
			return err
		}
		return tx.PutBackendStats(fal)
	}))
	want := func(st store.BackendStats) store.BackendStats {
		c := store.CloneBackendStats(st)
		c.UpdatedAt = norm(st.UpdatedAt)
		for i := range c.Cells {
			c.Cells[i].At = norm(st.Cells[i].At)
		}
		return c
	}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		got, err := tx.GetBackendStats("fal")
		require.NoError(t, err)
		require.Equal(t, want(fal), got)
		return nil
	}))
	list, err := s.ListBackendStats(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.BackendStats{want(fal), want(luma)}, list)

	unsorted := statsOf("fal", "standard/720p/5s/t2v", "draft/720p/5s/t2v")
	err = s.RunTx(ctx, func(tx store.Tx) error { return tx.PutBackendStats(unsorted) })
	require.ErrorIs(t, err, errclass.Permanent, "cells sorted by shape")
	unsorted = statsOf("fal")
	unsorted.Windows[0], unsorted.Windows[1] = unsorted.Windows[1], unsorted.Windows[0]
	err = s.RunTx(ctx, func(tx store.Tx) error { return tx.PutBackendStats(unsorted) })
	require.ErrorIs(t, err, errclass.Permanent, "windows sorted by start")
}

// CountJobs counts what ListJobs's filters select, up to its bound.
func testCountJobs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	put := func(project string, st job.Status, backend string) {
		j := newJob(project, t0)
		j.Status, j.Backend = st, backend
		_, _, err := CreateJob(ctx, s, j)
		require.NoError(t, err)
	}
	for range 3 {
		put("p1", job.StatusDispatched, "fal")
	}
	put("p2", job.StatusDispatched, "fal")
	put("p1", job.StatusRunning, "fal")
	put("p1", job.StatusDispatched, "luma")
	count := func(q store.ListJobsQuery, upTo int) int {
		n, err := s.CountJobs(ctx, q, upTo)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 4, count(store.ListJobsQuery{AllProjects: true, Status: job.StatusDispatched, Backend: "fal"}, 100))
	require.Equal(t, 3, count(store.ListJobsQuery{ProjectID: "p1", Status: job.StatusDispatched, Backend: "fal"}, 100))
	require.Equal(t, 2, count(store.ListJobsQuery{AllProjects: true, Status: job.StatusDispatched, Backend: "fal"}, 2), "bounded")
	require.Equal(t, 0, count(store.ListJobsQuery{AllProjects: true, Status: job.StatusQueued}, 100))
	_, err := s.CountJobs(ctx, store.ListJobsQuery{Status: job.StatusQueued}, 100)
	require.ErrorIs(t, err, errclass.Permanent, "a project, or all of them, as ListJobs")
}
