package budget_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// ledgerReads counts the ledger entries a store hands out through
// ListLedger: what GET /v1/usage used to scan.
type ledgerReads struct {
	store.Store
	entries atomic.Int64
}

func (s *ledgerReads) ListLedger(ctx context.Context, q store.LedgerQuery) ([]store.LedgerEntry, error) {
	out, err := s.Store.ListLedger(ctx, q)
	s.entries.Add(int64(len(out)))
	return out, err
}

// shapes are the job shapes of randomLedger's entries; the zero one is an
// entry from before shapes were recorded.
var shapes = []store.Shape{
	{},
	{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5},
	{Tier: job.TierPremium, Resolution: job.Res1080p, AspectRatio: job.Aspect9x16, Seconds: 8, Audio: true},
	{Tier: job.TierDraft, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5, ImageScheme: "https"},
}

// randomLedger writes n entries of two projects over the days before end,
// some of them settled at midnight exactly, and returns them.
func randomLedger(t *testing.T, st store.Store, rng *rand.Rand, n int, end time.Time) []store.LedgerEntry {
	t.Helper()
	statuses := []job.AttemptStatus{job.AttemptSucceeded, job.AttemptSucceeded, job.AttemptFailed, job.AttemptCanceled}
	var out []store.LedgerEntry
	for i := range n {
		at := end.Add(-time.Duration(rng.Int64N(int64(40 * 24 * time.Hour)))).Truncate(time.Microsecond)
		if i%17 == 0 {
			at = at.Truncate(24 * time.Hour)
		}
		out = append(out, store.LedgerEntry{
			ID: store.LedgerID(fmt.Sprintf("job-%d", i/2), 1+i%2), JobID: fmt.Sprintf("job-%d", i/2), Attempt: 1 + i%2,
			ProjectID: []string{"p", "q"}[rng.IntN(2)], UserID: []string{"", "alice", "bob"}[rng.IntN(3)],
			Backend: []string{"luma", "runway", "veo"}[rng.IntN(3)], Period: budget.PeriodOf(at),
			Status: statuses[rng.IntN(len(statuses))], Cost: money.Micros(rng.Int64N(2_000_000)), Final: rng.IntN(3) > 0, At: at,
			Shape: shapes[rng.IntN(len(shapes))], Generation: time.Duration(1+rng.IntN(100)) * time.Second,
		})
	}
	require.NoError(t, st.RunTx(context.Background(), func(tx store.Tx) error {
		for _, e := range out {
			if err := tx.CreateLedger(e); err != nil {
				return err
			}
		}
		return nil
	}))
	return out
}

func within(entries []store.LedgerEntry, project string, from, to time.Time) []store.LedgerEntry {
	var out []store.LedgerEntry
	for _, e := range entries {
		if e.ProjectID == project && !e.At.Before(from) && e.At.Before(to) {
			out = append(out, e)
		}
	}
	return out
}

// Usage from roll-ups equals usage from the ledger, whatever the range and
// wherever the watermark is: whole days, part days at both ends, ranges
// past the watermark, before any roll-up, every grouping. Small batches
// make the roller take many rounds.
func TestUsageFromRollupsEqualsTheLedger(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	end := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	st := &ledgerReads{Store: memstore.New()}
	entries := randomLedger(t, st, rng, 3000, end)
	now := end.Add(-20 * 24 * time.Hour)
	r, err := budget.NewRoller(budget.RollerConfig{Store: st, Batch: 97, Lag: time.Minute, Now: func() time.Time { return now }})
	require.NoError(t, err)
	check := func() {
		for range 40 {
			a := end.Add(-time.Duration(rng.Int64N(int64(45 * 24 * time.Hour))))
			b := a.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
			if rng.IntN(3) == 0 {
				a = a.Truncate(24 * time.Hour)
			}
			project := []string{"p", "q"}[rng.IntN(2)]
			tally, err := budget.Usage(context.Background(), st, project, a, b)
			require.NoError(t, err)
			for _, by := range budget.GroupBys {
				wantTotal, want := budget.Summarize(within(entries, project, a, b), by)
				gotTotal, got := tally.Groups(by)
				require.Equal(t, wantTotal, gotTotal, "%s [%s, %s) by %s", project, a, b, by)
				require.Equal(t, want, got, "%s [%s, %s) by %s", project, a, b, by)
			}
			var shaped money.Micros
			for _, e := range within(entries, project, a, b) {
				if e.Shape.Known() {
					shaped += e.Cost
				}
			}
			var got money.Micros
			for _, c := range tally.Shapes() {
				require.True(t, c.Shape.Known())
				got += c.Cost
			}
			require.Equal(t, shaped, got, "%s [%s, %s): the cost of the entries with a shape, by shape", project, a, b)
		}
	}
	check() // nothing rolled up yet
	for _, step := range []time.Duration{0, 36 * time.Hour, 7*24*time.Hour + 5*time.Hour, 12 * 24 * time.Hour} {
		now = now.Add(step)
		for {
			res, err := r.RollUp(context.Background())
			require.NoError(t, err)
			if res.CaughtUp {
				require.Equal(t, now.Add(-time.Minute), res.Through)
				break
			}
		}
		check()
	}
}

// Once rolled up, a month of usage reads no ledger entry (issue 13,
// finding 5: it used to scan up to 366 days of ledger per request), and a
// range ending now reads only what settled since the watermark.
func TestUsageReadsRollupsNotTheLedger(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	st := &ledgerReads{Store: memstore.New()}
	entries := randomLedger(t, st, rng, 2000, end)
	now := end.Add(10 * time.Minute)
	r, err := budget.NewRoller(budget.RollerConfig{Store: st, Now: func() time.Time { return now }})
	require.NoError(t, err)
	res, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.True(t, res.CaughtUp)
	require.Equal(t, len(entries), res.Entries)

	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tally, err := budget.Usage(context.Background(), st, "p", nov, dec)
	require.NoError(t, err)
	require.Zero(t, st.entries.Load(), "a rolled-up month reads no ledger entry")
	wantTotal, want := budget.Summarize(within(entries, "p", nov, dec), budget.GroupByBackend)
	gotTotal, got := tally.Groups(budget.GroupByBackend)
	require.Equal(t, wantTotal, gotTotal)
	require.Equal(t, want, got)
	require.NotEmpty(t, got)

	// Entries settled after the watermark are scanned, and only they.
	require.NoError(t, st.RunTx(context.Background(), func(tx store.Tx) error {
		for i := range 3 {
			e := entry(fmt.Sprintf("late-%d", i), 1, "luma", "", job.AttemptSucceeded, "1", res.Through.Add(time.Second))
			if err := tx.CreateLedger(e); err != nil {
				return err
			}
		}
		return nil
	}))
	tally, err = budget.Usage(context.Background(), st, "p", dec, now)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.entries.Load(), "only what settled since the watermark")
	total, _ := tally.Groups(budget.GroupByDay)
	wantTotal, _ = budget.Summarize(within(entries, "p", dec, now), budget.GroupByDay)
	require.Equal(t, wantTotal+usd("3"), total)
}

// Rollers racing (one per router) roll every entry up exactly once, and
// fold it into what is learned of its backend (RollerConfig.Fold) once.
func TestRollersRacingCountEachEntryOnce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	end := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	st := memstore.New()
	entries := randomLedger(t, st, rng, 1500, end)
	var wg sync.WaitGroup
	var rolled atomic.Int64
	for range 4 {
		r, err := budget.NewRoller(budget.RollerConfig{Store: st, Batch: 50, Now: func() time.Time { return end.Add(time.Hour) },
			Fold: (&learn.Folder{}).FoldRound})
		require.NoError(t, err)
		wg.Go(func() {
			for {
				res, err := r.RollUp(context.Background())
				rolled.Add(int64(res.Entries))
				if !assertNoError(t, err) || res.CaughtUp {
					return
				}
			}
		})
	}
	wg.Wait()
	days, err := st.ListDayUsage(context.Background(), "p", "2026-01-01", "2027-01-01")
	require.NoError(t, err)
	qdays, err := st.ListDayUsage(context.Background(), "q", "2026-01-01", "2027-01-01")
	require.NoError(t, err)
	n := 0
	for _, d := range append(days, qdays...) {
		n += d.Entries
	}
	require.Equal(t, len(entries), n, "every entry in the roll-ups once")
	require.Equal(t, int64(len(entries)), rolled.Load(), "and counted by one roller only")

	stats, err := st.ListBackendStats(context.Background())
	require.NoError(t, err)
	want := map[string]float64{}
	for _, e := range entries {
		if learn.FromEntry(e).Outcome != learn.Ignored {
			want[e.Backend] += math.Exp2(-end.Sub(e.At).Hours() / learn.HalfLife.Hours())
		}
	}
	require.Len(t, stats, len(want))
	for _, b := range stats {
		m := learn.Merge(b.Cells, end)
		require.InDelta(t, want[b.Backend], m.Successes+m.Failures, 1e-6, "%s: each attempt learned from once", b.Backend)
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("roll up: %v", err)
		return false
	}
	return true
}

// A round ends before the first entry it cannot take, never between two
// entries settled at the same instant, and refuses a batch it cannot cut.
func TestRollerRoundsCutBetweenInstants(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var entries []store.LedgerEntry
	for i := range 5 {
		e := entry(fmt.Sprintf("j%d", i), 1, "luma", "", job.AttemptSucceeded, "1", at.Add(time.Duration(min(i, 1))*time.Second))
		entries = append(entries, e)
	}
	require.NoError(t, st.RunTx(context.Background(), func(tx store.Tx) error {
		for _, e := range entries {
			if err := tx.CreateLedger(e); err != nil {
				return err
			}
		}
		return nil
	}))
	now := at.Add(time.Hour)
	r, err := budget.NewRoller(budget.RollerConfig{Store: st, Batch: 3, Now: func() time.Time { return now }})
	require.NoError(t, err)
	res, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, res.Entries, "j0; j1..j4 share the instant after")
	require.Equal(t, at.Add(time.Second), res.Through)
	_, err = r.RollUp(context.Background())
	require.ErrorContains(t, err, "more than 3 ledger entries", "four entries at one instant exceed a batch of 3")
}
