package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// consoleFixture is a dev stack that ran a few jobs, some of them failed,
// and a browser tab on its console.
type consoleFixture struct {
	st     *devstack.Stack
	c      *client.Client
	tab    context.Context
	jobs   []*client.Job // every job run, terminal, oldest first
	failed []*client.Job // those that failed
	// seeded and seededFailed are the ids of older jobs written straight
	// into the store, newest first, so that the jobs take two pages.
	seeded, seededFailed []string
	reqs                 apiRequests // what f.tab asked of the API
	png                  []byte      // the screenshot to save
}

// TestConsoleInABrowser is issue 16's browser test: the web console
// (DESIGN.md "Console", driven through its DOM contract) in headless
// Chromium against the in-process dev stack, after jobs ran there and
// some failed: log in through #key=, the jobs, filtered to failed, a
// failed job's timeline with its error and trace id, the backends, the
// usage and budget charts with the API's numbers, recommendations, the
// keyboard and a phone's width, a bad key and logging out. It saves a
// screenshot of the jobs view to docs/console.png when AIPROD_SCREENSHOT=1.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	tab := newBrowser(t, 2*time.Minute) // first: without a browser, fail at once; about 10 s alone, room for a busy `make test`
	f := startConsoleFixture(t)
	f.tab = tab
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"login with #key and first screen", f.checkLogin},
		{"filter to failed", f.checkFailedFilter},
		{"failed job timeline", f.checkTimeline},
		{"trace link to Cloud Trace without spans", f.checkCloudTraceLink},
		{"backends", f.checkBackends},
		{"usage charts", f.checkUsage},
		{"budget and forecast", f.checkBudget},
		{"recommendations", f.checkRecommendations},
		{"keyboard", f.checkKeyboard},
		{"phone width", f.checkPhone},
		{"screenshot", f.screenshot},
		{"bad key shows login", f.checkBadKey},
		{"logout", f.checkLogout},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return // later steps start where this one should have left the page
		}
	}
	if f.png != nil {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "console.png"), f.png, 0o644))
	}
}

// startConsoleFixture starts the dev stack (keeping spans, as aiprod dev
// does, so the timeline links the trace to /v1/jobs/{id}/spans), gives
// project dev a budget, and runs jobs to their end: one on each of four
// backends and two unpinned, for three users; and two pinned to luma while
// its simulator is down, which fail. Older than those, 60 finished jobs are
// written straight into the store, so that the jobs take two pages.
func startConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	// The tracer provider is global: parallel tests' spans land here too,
	// hence a small store.
	spans := telemetry.NewSpanStore(5000)
	telemetry.Setup("aiprod-test", spans)
	st, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", SimSpeed: 0.1, PollInterval: 20 * time.Millisecond, Spans: spans,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	f := &consoleFixture{st: st, c: client.New(st.APIURL, devstack.APIKeyDefault)}
	f.seeded, f.seededFailed = seedJobs(t, st.Store, devstack.ProjectDefault, 60, time.Now())

	ctx := context.Background()
	admin := client.New(st.APIURL, devstack.AdminKeyDefault)
	require.NoError(t, admin.Do(ctx, http.MethodPut, "/v1/admin/projects/dev/budget", []byte(`{"monthly_limit_usd": 100}`), nil))
	st.Sims["luma"].Core.SetFaults(simFaults(true))
	var reqs []job.Request
	for i, pin := range []string{"runway", "replicate", "fal", "veo", "", ""} {
		r := job.Request{Prompt: "console: a red fox, take " + strconv.Itoa(i), DurationSeconds: []int{4, 5, 6, 7, 8, 5}[i],
			UserID: []string{"alice", "bob", "carol"}[i%3]}
		if pin != "" {
			r.Backends = []string{pin}
		}
		reqs = append(reqs, r)
	}
	for i := range 2 {
		reqs = append(reqs, job.Request{Prompt: "console: doomed on luma " + strconv.Itoa(i), DurationSeconds: 5,
			Backends: []string{"luma"}, UserID: "dave"})
	}
	for _, r := range reqs {
		j, err := f.c.Submit(ctx, r, client.SubmitOptions{})
		require.NoError(t, err)
		f.jobs = append(f.jobs, j)
	}
	for i, j := range f.jobs {
		f.jobs[i] = waitTerminal(t, f.c, j.ID)
		if f.jobs[i].Status == job.StatusFailed {
			f.failed = append(f.failed, f.jobs[i])
		}
	}
	require.Len(t, f.failed, 2, "the jobs pinned to luma, down, fail; the others succeed")
	return f
}

// showView goes to a view through its nav link, as a person would, and
// waits until it is rendered: its section visible and not busy, the only
// visible one, and the body's data-ready naming it.
func (f *consoleFixture) showView(t *testing.T, view string) {
	t.Helper()
	eval[bool](t, f.tab, `document.querySelector('#nav a[href="#`+view+`"]').click(), true`)
	waitView(t, f.tab, view)
}

// waitView waits until view is rendered (see showView).
func waitView(tb testing.TB, tab context.Context, view string) {
	tb.Helper()
	pollFor[bool](tb, tab, "view "+view, `(() => {
		const s = document.querySelector('section[data-view="`+view+`"]');
		const visible = [...document.querySelectorAll('section[data-view]')].filter(e => e.checkVisibility());
		return document.body.dataset.ready === "`+view+`" && s && s.getAttribute('aria-busy') === "false"
			&& visible.length === 1 && visible[0] === s;
	})()`)
}

// apiRequests records the GET requests of the API that a tab makes.
type apiRequests struct {
	mu   sync.Mutex
	reqs []apiRequest
}

type apiRequest struct {
	url *url.URL
	id  network.RequestID
}

func (r *apiRequests) listen(tb testing.TB, tab context.Context) {
	tb.Helper()
	require.NoError(tb, chromedp.Listen(tab, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || e.Request.Method != http.MethodGet {
			return
		}
		if u, err := url.Parse(e.Request.URL); err == nil && strings.HasPrefix(u.Path, "/v1/") {
			r.mu.Lock()
			r.reqs = append(r.reqs, apiRequest{url: u, id: e.RequestID})
			r.mu.Unlock()
		}
	}))
}

// jobLists returns the GET /v1/jobs requests recorded so far.
func (r *apiRequests) jobLists() []*url.URL {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*url.URL
	for _, q := range r.reqs {
		if q.url.Path == "/v1/jobs" {
			out = append(out, q.url)
		}
	}
	return out
}

// lastBody decodes into v the body of the latest answer the tab got to
// a GET of path: what the page rendered.
func (r *apiRequests) lastBody(tb testing.TB, tab context.Context, path string, v any) {
	tb.Helper()
	var id network.RequestID
	r.mu.Lock()
	for _, q := range r.reqs {
		if q.url.Path == path {
			id = q.id
		}
	}
	r.mu.Unlock()
	require.NotEmpty(tb, id, "the page asked for %s", path)
	res, err := chromedp.Call(tab, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
	require.NoError(tb, err, "the body of GET %s", path)
	require.NoError(tb, json.Unmarshal(res.Body, v), "the body of GET %s: %s", path, res.Body)
}

// checkLogin opens /console#key=<key>: the key moves to sessionStorage, the
// fragment leaves the URL, the jobs view shows the first 50 jobs, newest
// first, after exactly one GET /v1/jobs with a limit of at most 50; the
// next page has the rest, and the previous page is the first again.
func (f *consoleFixture) checkLogin(t *testing.T) {
	f.reqs.listen(t, f.tab)
	require.NoError(t, chromedp.Do(f.tab, chromedp.Navigate(f.st.APIURL+"/console#key="+devstack.APIKeyDefault)))
	waitView(t, f.tab, "jobs")
	requireOneListOfAtMost50(t, f.reqs.jobLists())

	loc := eval[string](t, f.tab, `location.href`)
	require.NotContains(t, loc, "key=", "the key is removed from the URL")
	require.NotContains(t, loc, devstack.APIKeyDefault)
	require.Equal(t, devstack.APIKeyDefault, eval[string](t, f.tab, `sessionStorage.getItem("aiprod.key")`))

	var all []string // every job, newest first
	for i := range f.jobs {
		all = append(all, f.jobs[len(f.jobs)-1-i].ID) // submitted one after the other
	}
	all = append(all, f.seeded...)
	require.Equal(t, all[:50], jobRows(t, f.tab), "the first page: 50 jobs, newest first")
	for _, j := range f.jobs {
		got := eval[[]string](t, f.tab, `(r => [r.dataset.status, r.querySelector('a[href="#job/`+j.ID+`"]') ? "linked" : "no link", r.textContent])(
			document.querySelector('#jobs-table tr[data-job-id="`+j.ID+`"]'))`)
		require.Equal(t, []string{string(j.Status), "linked"}, got[:2], "row of job %s", j.ID)
		for _, col := range []string{j.Backend, j.UserID, string(j.Request.QualityTier)} {
			require.Contains(t, got[2], col, "row of job %s", j.ID)
		}
		if j.Error != nil {
			require.Contains(t, got[2], j.Error.Code, "row of job %s", j.ID)
		}
	}

	eval[bool](t, f.tab, `document.querySelector('#jobs-next').click(), true`)
	require.Equal(t, all[50:], pollFor[[]string](t, f.tab, "the second page", `(ids => ids[0] === `+strconv.Quote(all[50])+` && ids)(`+jobRowsJS+`)`))
	require.True(t, eval[bool](t, f.tab, `document.querySelector('#jobs-next').disabled`), "the last page has no next")
	eval[bool](t, f.tab, `document.querySelector('#jobs-prev').click(), true`)
	pollFor[bool](t, f.tab, "the first page again", `(ids => ids.length === 50 && ids[0] === `+strconv.Quote(all[0])+`)(`+jobRowsJS+`)`)
}

// jobRowsJS is the ids of the rows of the jobs table, in order.
const jobRowsJS = `[...document.querySelectorAll('#jobs-table tbody tr[data-job-id]')].map(r => r.dataset.jobId)`

// jobRows returns the ids of the rows of the jobs table, in order.
func jobRows(tb testing.TB, tab context.Context) []string {
	tb.Helper()
	return eval[[]string](tb, tab, jobRowsJS)
}

// requireOneListOfAtMost50: the first screen asked for one page of at most
// 50 jobs.
func requireOneListOfAtMost50(tb testing.TB, lists []*url.URL) {
	tb.Helper()
	require.Len(tb, lists, 1, "the first screen is one GET /v1/jobs: %v", lists)
	limit, err := strconv.Atoi(lists[0].Query().Get("limit"))
	require.NoError(tb, err, "limit of %s", lists[0])
	require.True(tb, limit > 0 && limit <= 50, "limit %d of %s", limit, lists[0])
}

// checkFailedFilter picks status "failed": the table reloads with exactly
// the failed jobs.
func (f *consoleFixture) checkFailedFilter(t *testing.T) {
	eval[bool](t, f.tab, `(s => { s.value = "failed"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })(
		document.querySelector('#job-filters select[name=status]'))`)
	rows := pollFor[[]string](t, f.tab, "only failed rows", `(() => {
		const rows = [...document.querySelectorAll('#jobs-table tbody tr[data-job-id]')];
		const busy = document.querySelector('section[data-view="jobs"]').getAttribute('aria-busy') !== "false";
		return !busy && rows.length > 0 && rows.every(r => r.dataset.status === "failed") && rows.map(r => r.dataset.jobId);
	})()`)
	want := []string{f.failed[1].ID, f.failed[0].ID} // newest first
	want = append(want, f.seededFailed...)
	require.Equal(t, want, rows, "the failed jobs, newest first")
}

// checkTimeline opens a failed job's timeline from its row: the summary
// shows its error code, the timeline one row per event of the API with the
// failure's message, and the trace id, linked to the dev stack's spans.
func (f *consoleFixture) checkTimeline(t *testing.T) {
	j := f.failed[0]
	eval[bool](t, f.tab, `document.querySelector('#jobs-table tr[data-job-id="`+j.ID+`"] a[href="#job/`+j.ID+`"]').click(), true`)
	waitView(t, f.tab, "job")
	require.Contains(t, eval[string](t, f.tab, `location.hash`), "#job/"+j.ID)
	require.NotNil(t, j.Error)
	summary := eval[string](t, f.tab, `document.querySelector('#job-summary').textContent`)
	require.Contains(t, summary, j.Error.Code)
	require.Contains(t, summary, "failed")

	events, err := f.c.Events(context.Background(), j.ID)
	require.NoError(t, err)
	types := eval[[]string](t, f.tab, `[...document.querySelectorAll('#timeline tr[data-event-type]')].map(r => r.dataset.eventType)`)
	want := make([]string, len(events))
	for i, e := range events {
		want[i] = e.Type
	}
	require.Equal(t, want, types, "one row per event, in order")
	failure := slices.IndexFunc(events, func(e client.Event) bool { return e.Type == "failed" })
	require.GreaterOrEqual(t, failure, 0, "the timeline has the failure: %v", want)
	row := eval[string](t, f.tab, `document.querySelectorAll('#timeline tr[data-event-type]')[`+strconv.Itoa(failure)+`].textContent`)
	require.Contains(t, row, j.Error.Code, "the failure's row shows its error code")

	traces := eval[[]string](t, f.tab, `[...document.querySelectorAll('#timeline code.trace-id')].map(c => c.textContent.trim())`)
	require.Contains(t, traces, j.TraceID)
	href := pollFor[string](t, f.tab, "the trace link", `(a => a && a.href)(document.querySelector('#job-summary a.trace-link, #timeline a.trace-link'))`)
	require.Equal(t, f.st.APIURL+"/v1/jobs/"+j.ID+"/spans", href, "the dev stack serves the spans")
}

// checkCloudTraceLink: in a new tab whose GET /v1/jobs/{id}/spans answer
// 404 (as on Cloud Run, which keeps no spans), the trace id links to Cloud
// Trace.
func (f *consoleFixture) checkCloudTraceLink(t *testing.T) {
	tab, cancel := chromedp.NewContext(f.tab)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	paused := chromedp.Events(tab, fetch.RequestPaused)
	wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return // the tab closed
			}
			_, _ = chromedp.Call(tab, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: http.StatusNotFound,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
				Body:            []byte(`{"error":{"code":"not_found","message":"no spans here"}}`)})
		}
	})
	_, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/v1/jobs/*/spans"}}})
	require.NoError(t, err)

	j := f.failed[0]
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.st.APIURL+"/console#key="+devstack.APIKeyDefault)))
	waitView(t, tab, "jobs")
	eval[bool](t, tab, `location.hash = "#job/`+j.ID+`", true`)
	waitView(t, tab, "job")
	href := pollFor[string](t, tab, "the trace link", `(a => a && a.href)(document.querySelector('#job-summary a.trace-link, #timeline a.trace-link'))`)
	require.Equal(t, "https://console.cloud.google.com/traces/list?tid="+j.TraceID, href)
}

// checkBackends: one row per catalog backend; luma, down, shows failures.
func (f *consoleFixture) checkBackends(t *testing.T) {
	f.showView(t, "backends")
	rows := eval[[]string](t, f.tab, `[...document.querySelectorAll('#backends-table tr[data-backend]')].map(r => r.dataset.backend)`)
	require.ElementsMatch(t, f.st.Catalog.Names(), rows)
	backends, err := f.c.Backends(context.Background())
	require.NoError(t, err)
	for _, b := range backends {
		text := eval[string](t, f.tab, `document.querySelector('#backends-table tr[data-backend="`+b.Name+`"]').textContent`)
		assert.Contains(t, text, b.Circuit, "backend %s shows its circuit", b.Name)
	}
}

// usageGroup is a group of GET /v1/usage.
type usageGroup struct {
	Key  string       `json:"key"`
	Cost money.Micros `json:"cost_usd"`
}

// checkUsage: the three charts mark the API's costs by day, backend and
// user (this month), each mark with a tooltip, each chart with its table.
func (f *consoleFixture) checkUsage(t *testing.T) {
	f.showView(t, "usage")
	for _, by := range []string{"day", "backend", "user"} {
		var u struct {
			Total  money.Micros `json:"total_cost_usd"`
			Groups []usageGroup `json:"groups"`
		}
		require.NoError(t, f.c.Do(context.Background(), http.MethodGet, "/v1/usage?group_by="+by, nil, &u))
		require.Positive(t, int64(u.Total))
		var want, got []money.Micros
		for _, g := range u.Groups {
			if g.Cost != 0 {
				want = append(want, g.Cost)
			}
		}
		chart := "#chart-cost-by-" + by
		for _, m := range f.marks(t, chart) {
			if m != 0 {
				got = append(got, m)
			}
		}
		require.ElementsMatch(t, want, got, "%s: the non-zero marks are the API's costs", chart)
		untitled := eval[int](t, f.tab, `[...document.querySelectorAll('`+chart+` [data-value]')].filter(m =>
			!(m.querySelector('title') || m.parentElement.querySelector(':scope > title'))?.textContent.trim()).length`)
		require.Zero(t, untitled, "%s: every mark has a <title> tooltip", chart)
	}
	require.GreaterOrEqual(t, eval[int](t, f.tab, `document.querySelectorAll('section[data-view="usage"] table.chart-data').length`), 3)
}

// marks returns the data-value (USD) of the data marks of chart.
func (f *consoleFixture) marks(t *testing.T, chart string) []money.Micros {
	t.Helper()
	vals := eval[[]string](t, f.tab, `[...document.querySelectorAll('`+chart+` [data-value]')].map(m => m.getAttribute('data-value'))`)
	require.NotEmpty(t, vals, "%s has data marks", chart)
	out := make([]money.Micros, len(vals))
	for i, v := range vals {
		usd, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "%s: data-value %q", chart, v)
		out[i] = money.Micros(math.Round(usd * 1e6))
	}
	return out
}

// forecastDay is a day of GET /v1/forecast.
type forecastDay struct {
	Cost     money.Micros `json:"cost_usd"`
	Forecast bool         `json:"forecast"`
}

// checkBudget: the summary shows the limit and the spend of GET /v1/budget;
// the forecast chart marks the projection, the limit and the cumulative
// spend of each day gone, as the page's GET /v1/forecast had them.
func (f *consoleFixture) checkBudget(t *testing.T) {
	f.showView(t, "budget")
	var b struct {
		Limit *money.Micros `json:"limit_usd"`
		Spent money.Micros  `json:"spent_usd"`
	}
	require.NoError(t, f.c.Do(context.Background(), http.MethodGet, "/v1/budget", nil, &b))
	require.NotNil(t, b.Limit)
	summary := eval[string](t, f.tab, `document.querySelector('#budget-summary').textContent`)
	require.Contains(t, summary, "$100.00", "the limit")
	require.Contains(t, summary, fmt.Sprintf("$%.2f", b.Spent.Float64()), "the spend")

	var fc struct {
		Projected money.Micros  `json:"projected_usd"`
		Daily     []forecastDay `json:"daily"`
	}
	// The projection moves with the clock: take the forecast the page got.
	f.reqs.lastBody(t, f.tab, "/v1/forecast", &fc)
	marks := f.marks(t, "#chart-forecast")
	require.Contains(t, marks, fc.Projected, "the projection")
	require.Contains(t, marks, *b.Limit, "the limit line")
	var cum money.Micros
	for _, d := range fc.Daily {
		if cum += d.Cost; !d.Forecast {
			require.Contains(t, marks, cum, "the cumulative spend of each day gone")
		}
	}
}

// checkRecommendations: the list has one item per recommendation of the
// API, or the empty state shows.
func (f *consoleFixture) checkRecommendations(t *testing.T) {
	f.showView(t, "recommendations")
	var r struct {
		Recommendations []struct {
			Kind string `json:"kind"`
		} `json:"recommendations"`
	}
	require.NoError(t, f.c.Do(context.Background(), http.MethodGet, "/v1/recommendations", nil, &r))
	kinds := eval[[]string](t, f.tab, `[...document.querySelectorAll('#recommendations-list li[data-kind]')].map(l => l.dataset.kind)`)
	var want []string
	for _, rec := range r.Recommendations {
		want = append(want, rec.Kind)
	}
	require.ElementsMatch(t, want, kinds)
	empty := eval[bool](t, f.tab, `!!document.querySelector('#recommendations-empty')?.checkVisibility()`)
	require.Equal(t, len(want) == 0, empty, "the empty state shows exactly when there are none")
}

// checkKeyboard: pressing Tab reaches every nav link and every filter
// control of the jobs view, and every filter control has a label.
func (f *consoleFixture) checkKeyboard(t *testing.T) {
	f.showView(t, "jobs")
	want := []string{"#jobs", "#backends", "#usage", "#budget", "#recommendations",
		"status", "backend", "error_code", "user_id", "since", "until"}
	var reached []string
	for range 200 { // round the page (datetime inputs take a Tab per field)
		require.NoError(t, chromedp.Do(f.tab, chromedp.KeyEvent("\t")))
		reached = append(reached, eval[string](t, f.tab, `(e => e.getAttribute('href') || e.getAttribute('name') || e.id || e.tagName)(document.activeElement)`))
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(reached, w) }) {
			break
		}
	}
	for _, w := range want {
		require.Contains(t, reached, w, "Tab reaches %s; it reached %v", w, reached)
	}
	unlabelled := eval[[]string](t, f.tab, `[...document.querySelectorAll('#job-filters input, #job-filters select')].filter(c =>
		!(c.labels.length || c.getAttribute('aria-label') || c.getAttribute('aria-labelledby'))).map(c => c.name)`)
	require.Empty(t, unlabelled, "filter controls without a label")
}

// checkPhone: at a phone's width (390 px) no view is wider than the
// screen. (Not against window.innerWidth: a mobile viewport zooms out to
// fit a page that is too wide, and innerWidth grows with it.)
func (f *consoleFixture) checkPhone(t *testing.T) {
	const phone = 390
	require.NoError(t, chromedp.Do(f.tab, chromedp.EmulateViewport(phone, 844, chromedp.EmulateMobile)))
	defer func() { require.NoError(t, chromedp.Do(f.tab, chromedp.EmulateViewport(browserWidth, browserHeight))) }()
	for _, view := range []string{"jobs", "backends", "usage", "budget", "recommendations"} {
		f.showView(t, view)
		w := eval[int](t, f.tab, `Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`)
		assert.LessOrEqual(t, w, phone, "view %s at %d px: the page is %d px wide", view, phone, w)
	}
}

// screenshot captures the jobs view, every status, at 1280x900; with
// AIPROD_SCREENSHOT=1 it writes it to docs/console.png once the whole test
// passed (a test that rewrote a committed file on every run would leave
// every checkout dirty).
func (f *consoleFixture) screenshot(t *testing.T) {
	f.showView(t, "jobs")
	eval[bool](t, f.tab, `(s => { s.value = ""; s.dispatchEvent(new Event("change", {bubbles: true})); return true })(
		document.querySelector('#job-filters select[name=status]'))`)
	pollFor[bool](t, f.tab, "every status again", `(ids => ids.length === 50)(`+jobRowsJS+`)`)
	eval[bool](t, f.tab, `document.activeElement.blur(), true`)
	buf, err := chromedp.Run(f.tab, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	require.NoError(t, err)
	require.Equal(t, [2]int{browserWidth, browserHeight}, [2]int{cfg.Width, cfg.Height})
	if os.Getenv("AIPROD_SCREENSHOT") == "1" {
		f.png = buf
	}
}

// checkBadKey: in a new tab (its own sessionStorage), a wrong key gets a
// 401 from the API and the login form with its error; logging in through
// the form then shows the jobs.
func (f *consoleFixture) checkBadKey(t *testing.T) {
	tab, cancel := chromedp.NewContext(f.tab)
	defer cancel()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.st.APIURL+"/console#key=not-a-key")))
	msg := pollFor[string](t, tab, "the login form with an error", `document.querySelector('#login')?.checkVisibility()
		&& document.querySelector('#login-error')?.checkVisibility() && document.querySelector('#login-error').textContent.trim()`)
	require.NotEmpty(t, msg)
	require.Equal(t, "password", eval[string](t, tab, `document.querySelector('#login-key').type`))

	eval[bool](t, tab, `document.querySelector('#login-key').focus(), true`)
	require.NoError(t, chromedp.Do(tab, chromedp.KeyEvent(devstack.APIKeyDefault+"\r")))
	waitView(t, tab, "jobs")
	require.Equal(t, devstack.APIKeyDefault, eval[string](t, tab, `sessionStorage.getItem("aiprod.key")`))
}

// checkLogout: #logout forgets the key and shows the login form.
func (f *consoleFixture) checkLogout(t *testing.T) {
	eval[bool](t, f.tab, `document.querySelector('#logout').click(), true`)
	pollFor[bool](t, f.tab, "the login form", `!!document.querySelector('#login')?.checkVisibility()`)
	require.Nil(t, eval[any](t, f.tab, `sessionStorage.getItem("aiprod.key")`))
}
