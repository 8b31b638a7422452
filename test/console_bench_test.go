package test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// BenchmarkConsoleFirstScreen is issue 16's must-show: with 10,000 jobs of
// one project in the dev stack's store (the Firestore emulator), the time
// from navigating to /console (logged in: the key in sessionStorage) to the
// jobs view rendered (body[data-ready=jobs], 50 rows), in headless
// Chromium, reported as ms/op. Before timing, it checks that the first
// screen is the newest 50 jobs from one GET /v1/jobs of at most 50, and
// that the next page is the next 50.
func BenchmarkConsoleFirstScreen(b *testing.B) {
	telemetry.Setup("aiprod-bench")
	st, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0"})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, st.Close()) })
	const jobs = 10_000
	ids, _ := seedJobs(b, st.Store, devstack.ProjectDefault, jobs, time.Now())
	tab := newBrowser(b, 10*time.Minute)

	var reqs apiRequests
	reqs.listen(b, tab)
	require.NoError(b, chromedp.Do(tab, chromedp.Navigate(st.APIURL+"/console#key="+devstack.APIKeyDefault)))
	require.Equal(b, ids[:50], waitFirstScreen(b, tab), "the newest 50 jobs")
	requireOneListOfAtMost50(b, reqs.jobLists())
	require.True(b, eval[bool](b, tab, `!document.querySelector('#jobs-next').disabled`), "10,000 jobs: a next page")
	eval[bool](b, tab, `document.querySelector('#jobs-next').click(), true`)
	second := pollFor[[]string](b, tab, "the second page", `(ids => ids[0] === `+strconv.Quote(ids[50])+` && ids)(`+jobRowsJS+`)`)
	require.Equal(b, ids[50:100], second, "the next 50")

	var took time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		require.NoError(b, chromedp.Do(tab, chromedp.Navigate("about:blank")))
		b.StartTimer()
		start := time.Now()
		require.NoError(b, chromedp.Do(tab, chromedp.Navigate(st.APIURL+"/console")))
		waitFirstScreen(b, tab)
		took += time.Since(start)
	}
	b.ReportMetric(float64(took.Microseconds())/1e3/float64(b.N), "ms/op")
}

// waitFirstScreen waits for the jobs view with 50 rows and returns their ids.
func waitFirstScreen(tb testing.TB, tab context.Context) []string {
	tb.Helper()
	return pollFor[[]string](tb, tab, "the jobs view with 50 rows",
		`(ids => document.body.dataset.ready === "jobs" && ids.length === 50 && ids)(`+jobRowsJS+`)`)
}

// seedJobs writes n finished jobs of project straight into st, 250 to a
// transaction, created a second apart back from newest (excluded): jobs to
// list, with no pipeline, events or ledger behind them; every fourth one
// failed. It returns their ids, newest first, and those of the failed.
func seedJobs(tb testing.TB, st store.Store, project string, n int, newest time.Time) (ids, failed []string) {
	tb.Helper()
	backends := []string{"veo", "runway", "luma", "replicate", "fal"}
	const batch = 250
	for from := 0; from < n; from += batch {
		var batchIDs, batchFailed []string
		err := st.RunTx(context.Background(), func(tx store.Tx) error {
			batchIDs, batchFailed = batchIDs[:0], batchFailed[:0] // a retried transaction starts over
			for i := from; i < min(from+batch, n); i++ {
				created := newest.Add(-time.Duration(i+1) * time.Second)
				r := job.Request{Prompt: "seeded job " + strconv.Itoa(i), DurationSeconds: 5, UserID: "user-" + strconv.Itoa(i%7)}
				r.ApplyDefaults()
				j := job.New("", project, r, created)
				j.Backend, j.EstimatedCost, j.TraceID = backends[i%len(backends)], money.MustParse("0.5"), "0af7651916cd43dd8448eb211c80319c"
				done := created.Add(40 * time.Second)
				j.UpdatedAt, j.CompletedAt = done, &done
				if i%4 == 3 {
					j.Status, j.Error = job.StatusFailed, &job.ErrorInfo{Code: "backend_failed", Message: "seeded failure"}
				} else {
					j.Status, j.Cost = job.StatusSucceeded, j.EstimatedCost
					j.Result = &job.Result{VideoURL: "https://example.com/" + j.ID + ".mp4", DurationSeconds: 5}
				}
				store.NormalizeTimes(j)
				if err := tx.CreateJob(j); err != nil {
					return err
				}
				batchIDs = append(batchIDs, j.ID)
				if j.Status == job.StatusFailed {
					batchFailed = append(batchFailed, j.ID)
				}
			}
			return nil
		})
		require.NoError(tb, err, "seed jobs %d..", from)
		ids, failed = append(ids, batchIDs...), append(failed, batchFailed...)
	}
	return ids, failed
}
