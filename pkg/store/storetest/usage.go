package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// dayUsage returns a roll-up of n cells (n users of two backends) and
// n/2 shape cells (two backends, every tier, durations 1 to n/6).
func dayUsage(project, day string, n int) store.DayUsage {
	d := store.DayUsage{ProjectID: project, Day: day, Entries: 3 * n, UpdatedAt: t0}
	for i := range n {
		d.Cells = append(d.Cells, store.UsageCell{
			Backend: []string{"luma", "runway"}[i%2], UserID: fmt.Sprintf("user-%05d", i), Cost: usd("0.25") * 3,
			Attempts: 3, AttemptsSucceeded: 2, AttemptsFailed: 1, Jobs: 2, JobsSucceeded: 2,
		})
	}
	for i := range n / 2 {
		shape := store.Shape{Tier: []job.Tier{job.TierDraft, job.TierStandard, job.TierPremium}[i%3], Resolution: job.Res1080p,
			AspectRatio: job.Aspect9x16, Seconds: 1 + i/6, Audio: i%3 == 1, ImageScheme: []string{"", "https"}[i/3%2]}
		d.Shapes = append(d.Shapes, store.ShapeCell{Backend: []string{"luma", "runway"}[i/3%2], Shape: shape,
			Cost: usd("0.5"), Attempts: 2, AttemptsSucceeded: 1})
	}
	return d
}

// A day's roll-up reads back as written, cells and shape cells sorted,
// even past the cells one Firestore document holds (2,500 cells, 1,250
// shape cells).
func testDayUsageRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		d, err := tx.GetDayUsage("p1", "2026-11-25")
		require.NoError(t, err)
		require.Equal(t, store.DayUsage{ProjectID: "p1", Day: "2026-11-25"}, d, "absent is zero")
		_, err = tx.GetDayUsage("p1", "2026-11-31")
		require.ErrorIs(t, err, errclass.Permanent, "not a day")
		return nil
	}))
	for _, n := range []int{2500, 3, 0} {
		require.Len(t, dayUsage("p1", "2026-11-25", n).Shapes, n/2, "distinct shape cells")
		want := dayUsage("p1", "2026-11-25", n)
		require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutDayUsage(want) }))
		want = store.CloneDayUsage(want)
		if want.Cells == nil {
			want.Cells = []store.UsageCell{}
		}
		require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
			got, err := tx.GetDayUsage("p1", "2026-11-25")
			require.NoError(t, err)
			normalizeCells(&got)
			require.Equal(t, want, got, "%d cells", n)
			return nil
		}))
		listed, err := s.ListDayUsage(ctx, "p1", "2026-11-25", "2026-11-26")
		require.NoError(t, err)
		require.Len(t, listed, 1)
		normalizeCells(&listed[0])
		require.Equal(t, want, listed[0], "a day that shrank lists only its cells (%d)", n)
	}
}

func normalizeCells(d *store.DayUsage) {
	if d.Cells == nil {
		d.Cells = []store.UsageCell{}
	}
}

func testListDayUsage(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		for _, d := range []store.DayUsage{
			dayUsage("p1", "2026-11-30", 1), dayUsage("p1", "2026-12-01", 2), dayUsage("p1", "2026-11-29", 1),
			dayUsage("p1", "2026-12-02", 1), dayUsage("p2", "2026-12-01", 4),
		} {
			if err := tx.PutDayUsage(d); err != nil {
				return err
			}
		}
		return nil
	}))
	got, err := s.ListDayUsage(ctx, "p1", "2026-11-30", "2026-12-02")
	require.NoError(t, err)
	require.Len(t, got, 2, "from inclusive, to exclusive, one project")
	require.Equal(t, "2026-11-30", got[0].Day)
	require.Equal(t, "2026-12-01", got[1].Day)
	require.Len(t, got[1].Cells, 2)
	none, err := s.ListDayUsage(ctx, "p3", "2026-01-01", "2027-01-01")
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = s.ListDayUsage(ctx, "p1", "2026-11", "2026-12-02")
	require.ErrorIs(t, err, errclass.Permanent)
}

func testUsageWatermark(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	w, err := s.GetUsageWatermark(ctx)
	require.NoError(t, err)
	require.True(t, w.IsZero())
	err = s.RunTx(ctx, func(tx store.Tx) error {
		require.NoError(t, tx.PutUsageWatermark(t0))
		_, err := tx.GetUsageWatermark()
		require.Error(t, err, "a read after a write is refused")
		return nil
	})
	require.Error(t, err, "the refused read fails the commit")
	w, err = s.GetUsageWatermark(ctx)
	require.NoError(t, err)
	require.True(t, w.IsZero(), "and writes nothing")
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		w, err := tx.GetUsageWatermark()
		require.NoError(t, err)
		require.True(t, w.IsZero())
		return tx.PutUsageWatermark(t0)
	}))
	w, err = s.GetUsageWatermark(ctx)
	require.NoError(t, err)
	require.Equal(t, store.NormalizeTime(t0), w)
}

func testListSettled(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	base := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	var want []string
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		// Two projects, entries a minute apart, two of them at the same time.
		for i, p := range []string{"p1", "p2", "p1", "p2", "p1"} {
			e := ledgerEntry(job.NewID(), 1, p, base.Add(time.Duration(min(i, 3))*time.Minute))
			want = append(want, e.ID)
			if err := tx.CreateLedger(e); err != nil {
				return err
			}
		}
		return nil
	}))
	ids := func(es []store.LedgerEntry) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	all, err := s.ListSettled(ctx, time.Time{}, base.Add(time.Hour), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, want, ids(all))
	for i := 1; i < len(all); i++ {
		require.True(t, all[i-1].At.Before(all[i].At) || all[i-1].At.Equal(all[i].At) && all[i-1].ID < all[i].ID, "by at, then id")
	}
	window, err := s.ListSettled(ctx, base.Add(time.Minute), base.Add(3*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, ids(all[1:3]), ids(window), "from inclusive, to exclusive")
	first, err := s.ListSettled(ctx, time.Time{}, base.Add(time.Hour), 4)
	require.NoError(t, err)
	require.Equal(t, ids(all[:4]), ids(first), "at most limit")
}
