// Package storetest is the conformance suite of the store.Store port. Every
// implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
//	}
//
// newStore must return an empty store that no other test uses (for
// Firestore: a fresh project id) and may register cleanup with t.Cleanup.
// Subtests run in parallel.
//
// # Contract beyond the interface
//
// The suite also pins what callers rely on but the interface cannot say:
// times come back in UTC truncated to microseconds (Firestore's precision);
// a job written with empty Attempts comes back with a non-nil empty slice;
// transaction conflicts surface as errclass.Conflict, which the caller may
// retry (the suite does, a bounded number of times, as the layer above a
// store would).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Option tunes the suite for an implementation.
type Option func(*config)

type config struct {
	creators, updaters int
}

// Contention sets how many goroutines race on one document in the
// concurrency tests (by default 20 concurrent creators and 50 concurrent
// updaters). Lower it only for a backend that cannot make progress under
// that much contention, such as the gcloud Firestore emulator, whose
// pessimistic locks resolve deadlocks by multi-second lock timeouts.
func Contention(n int) Option {
	return func(c *config) { c.creators, c.updaters = n, n }
}

// Run runs the conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	cfg := config{creators: 20, updaters: 50}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateJobIsCreateIfAbsent", testCreateJobIdempotent},
		{"CreateJobConcurrent", func(t *testing.T, s store.Store) { testCreateJobConcurrent(t, s, cfg.creators) }},
		{"TxCreateJobConflicts", testTxCreateJobConflicts},
		{"GetJobNotFound", testGetJobNotFound},
		{"JobRoundTrip", testJobRoundTrip},
		{"UpdateJobTransition", testUpdateJobTransition},
		{"UpdateJobNotFound", testUpdateJobNotFound},
		{"UpdateJobConcurrentNoLostUpdate", func(t *testing.T, s store.Store) { testUpdateJobConcurrent(t, s, cfg.updaters) }},
		{"FnErrorWritesNothing", testFnErrorWritesNothing},
		{"ReadAfterWriteFails", testReadAfterWrite},
		{"InvalidIDs", testInvalidIDs},
		{"ListJobsPagination", testListJobsPagination},
		{"ListJobsStatusFilter", testListJobsStatusFilter},
		{"ListJobsDefaultLimitAndEmpty", testListJobsDefaultLimit},
		{"ListJobsBadQuery", testListJobsBadQuery},
		{"ListJobsSearch", testListJobsSearch},
		{"Events", testEvents},
		{"BackendAbsentIsEnabledAndClosed", testBackendAbsent},
		{"UpdateBackendPersists", testUpdateBackend},
		{"APIKeys", testAPIKeys},
		{"ListAPIKeys", testListAPIKeys},
		{"Slots", testSlots},
		{"Webhooks", testWebhooks},
		{"ListStale", testListStale},
		{"ListStaleByBackend", testListStaleByBackend},
		{"Notifications", testNotifications},
		{"DLQReplays", testDLQReplays},
		{"DayUsageRoundTrip", testDayUsageRoundTrip},
		{"ListDayUsage", testListDayUsage},
		{"UsageWatermark", testUsageWatermark},
		{"ListSettled", testListSettled},
		{"BackendStats", testBackendStats},
		{"CountJobs", testCountJobs},
	}
	tests = append(tests, budgetTests(cfg)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s)
		})
	}
}

// t0 has nanoseconds and a non-UTC zone on purpose: stores must give back
// UTC microseconds.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newJob returns a minimal queued job as ingest makes it.
func newJob(projectID string, created time.Time) *job.Job {
	req := job.Request{Prompt: "a red fox running through snow", DurationSeconds: 5}
	req.ApplyDefaults()
	return job.New("", projectID, req, created)
}

// fullJob returns a job with every field set.
func fullJob() *job.Job {
	maxCost := money.MustParse("2.5")
	deadline := 900
	req := job.Request{
		Prompt:          "a red fox running through snow, cinematic",
		DurationSeconds: 5,
		Resolution:      job.Res1080p,
		AspectRatio:     job.Aspect9x16,
		QualityTier:     job.TierPremium,
		ImageURL:        "https://example.com/first-frame.png",
		Audio:           true,
		MaxCostUSD:      &maxCost,
		Backends:        []string{"runway", "luma"},
		UserID:          "alice",
		WebhookURL:      "https://example.com/hooks/video",
		DeadlineSeconds: &deadline,
		Metadata:        map[string]string{"campaign": "winter", "team": "ads"},
	}
	j := job.New("", "proj-full", req, t0)
	sub, end, prog := t0.Add(2*time.Second), t0.Add(30*time.Second), t0.Add(20*time.Second)
	done := t0.Add(90 * time.Second)
	retryAt := t0.Add(31*time.Second + 123456789)
	j.Status = job.StatusSucceeded
	j.Backend = "runway"
	j.Attempts = []job.Attempt{
		{
			Number: 1, Backend: "luma", Model: "ray-2", Status: job.AttemptFailed,
			Handle:        `{"id":"gen-1"}`,
			Error:         &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "503 from luma"},
			EstimatedCost: money.MustParse("0.4"), Cost: 0,
			StartedAt: t0.Add(time.Second), SubmittedAt: &sub, EndedAt: &end, LastProgressAt: &prog,
			DurationSeconds: 5, RetryAt: &retryAt,
		},
		{
			Number: 2, Backend: "runway", Model: "gen4_turbo", Status: job.AttemptSucceeded,
			Handle:        `{"id":"task-2"}`,
			EstimatedCost: money.MustParse("0.25"), Cost: money.MustParse("0.250001"),
			StartedAt: t0.Add(31 * time.Second), EndedAt: &done,
			DurationSeconds: 5, NotBefore: &retryAt,
		},
	}
	j.EstimatedCost = money.MustParse("0.25")
	j.Cost = money.MustParse("0.250001")
	j.Result = &job.Result{VideoURL: "https://cdn.example.com/v.mp4", DurationSeconds: 5}
	j.Error = &job.ErrorInfo{Code: job.CodeBackendFailed, Message: "kept for the round trip"}
	j.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	j.IdempotencyKey = "order-42"
	j.ExcludedBackends = []string{"luma"}
	j.UpdatedAt = done
	j.CompletedAt = &done
	return j
}

// norm is t as a store gives it back: UTC, microseconds, no monotonic
// reading.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// want returns the job a store must give back after storing j.
func want(j *job.Job) *job.Job {
	c := j.Clone()
	c.CreatedAt, c.UpdatedAt, c.CompletedAt = norm(c.CreatedAt), norm(c.UpdatedAt), normPtr(c.CompletedAt)
	for i := range c.Attempts {
		a := &c.Attempts[i]
		a.StartedAt = norm(a.StartedAt)
		a.SubmittedAt, a.EndedAt, a.LastProgressAt = normPtr(a.SubmittedAt), normPtr(a.EndedAt), normPtr(a.LastProgressAt)
		a.RetryAt, a.NotBefore = normPtr(a.RetryAt), normPtr(a.NotBefore)
	}
	return c
}

// retryConflict runs fn until it returns something other than an
// errclass.Conflict, at most 50 times: what the layer above a store does
// with lost transaction races.
func retryConflict(fn func() error) error {
	var err error
	for range 50 {
		if err = fn(); !errors.Is(err, errclass.Conflict) {
			return err
		}
	}
	return err
}

func mustCreate(t *testing.T, s store.Store, j *job.Job) {
	t.Helper()
	_, created, err := CreateJob(ctxOf(t), s, j)
	require.NoError(t, err)
	require.True(t, created, "job %s already existed", j.ID)
}

func testCreateJobIdempotent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	got, created, err := CreateJob(ctx, s, j)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, want(j), got)

	again := j.Clone()
	again.Request.Prompt = "something else"
	got, created, err = CreateJob(ctx, s, again)
	require.NoError(t, err)
	require.False(t, created, "second create of the same id must not create")
	require.Equal(t, want(j), got, "second create returns the stored job, not its argument")

	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, want(j), stored)
}

func testCreateJobConcurrent(t *testing.T, s store.Store, n int) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		errs    []error
	)
	for i := range n {
		wg.Go(func() {
			c := j.Clone()
			c.Request.Prompt = fmt.Sprintf("creator %d", i)
			var got *job.Job
			var ok bool
			err := retryConflict(func() (err error) {
				got, ok, err = CreateJob(ctx, s, c)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if ok {
				created++
			}
			if got.ID != j.ID {
				errs = append(errs, fmt.Errorf("creator %d got job %s", i, got.ID))
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 1, created, "exactly one concurrent creator must create")

	// Every creator's answer agreed with what is stored: the stored prompt
	// is one creator's, and a later create returns it.
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(stored.Request.Prompt, "creator "))
	got, ok, err := CreateJob(ctx, s, j)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, stored, got)
}

func testTxCreateJobConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	mustCreate(t, s, j)
	other := j.Clone()
	other.Status = job.StatusFailed
	err := s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateJob(other) })
	require.ErrorIs(t, err, errclass.Conflict)
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.StatusQueued, stored.Status, "a conflicting create must not overwrite")
}

func testGetJobNotFound(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := s.GetJob(ctx, job.NewID())
	require.ErrorIs(t, err, errclass.NotFound)
	err = s.RunTx(ctx, func(tx store.Tx) error {
		_, err := tx.GetJob(job.NewID())
		return err
	})
	require.ErrorIs(t, err, errclass.NotFound)
}

func testJobRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	tests := []struct {
		name string
		job  *job.Job
	}{
		{"minimal", newJob("p1", t0)},
		{"every field", fullJob()},
		{"no attempts nil slices", func() *job.Job {
			j := newJob("p1", t0)
			j.Attempts = nil
			return j
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Straight through the Tx, so the store itself must normalise.
			require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.CreateJob(tt.job) }))
			w := want(tt.job)
			if w.Attempts == nil {
				w.Attempts = []job.Attempt{}
			}
			got, err := s.GetJob(ctx, tt.job.ID)
			require.NoError(t, err)
			require.Equal(t, w, got)

			// What GetJob returned is a copy.
			got.Status = "mutated"
			if len(got.Attempts) > 0 {
				got.Attempts[0].Backend = "mutated"
			}
			reread, err := s.GetJob(ctx, tt.job.ID)
			require.NoError(t, err)
			require.Equal(t, w, reread, "mutating a returned job must not change the stored one")

			// PutJob round-trips too, and keeps no alias of its argument.
			got = reread
			got.Backend = "veo"
			require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutJob(got) }))
			got.Backend = "mutated after put"
			again, err := s.GetJob(ctx, tt.job.ID)
			require.NoError(t, err)
			w.Backend = "veo"
			require.Equal(t, w, again)
		})
	}
}

func testUpdateJobTransition(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	mustCreate(t, s, j)

	t1 := t0.Add(time.Minute)
	got, err := UpdateJob(ctx, s, j.ID, func(j *job.Job) error {
		return j.Transition(job.StatusDispatched, t1)
	})
	require.NoError(t, err)
	require.Equal(t, job.StatusDispatched, got.Status)
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.StatusDispatched, stored.Status)
	require.Equal(t, norm(t1), stored.UpdatedAt)

	// An illegal transition: the very error is returned, nothing written.
	var fnErr error
	_, err = UpdateJob(ctx, s, j.ID, func(j *job.Job) error {
		j.Backend = "must not be written"
		fnErr = j.Transition(job.StatusDispatched, t1.Add(time.Minute)) // dispatched → dispatched
		return fnErr
	})
	require.Error(t, fnErr)
	require.ErrorIs(t, err, errclass.Conflict)
	require.Equal(t, fnErr.Error(), err.Error(), "fn's error must come back unwrapped")
	after, gerr := s.GetJob(ctx, j.ID)
	require.NoError(t, gerr)
	require.Equal(t, stored, after, "a failed update must write nothing")
}

func testUpdateJobNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := UpdateJob(ctxOf(t), s, job.NewID(), func(*job.Job) error { called = true; return nil })
	require.ErrorIs(t, err, errclass.NotFound)
	require.False(t, called)
}

func testUpdateJobConcurrent(t *testing.T, s store.Store, n int) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	mustCreate(t, s, j)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- retryConflict(func() error {
				_, err := UpdateJob(ctx, s, j.ID, func(j *job.Job) error {
					j.Attempts = append(j.Attempts, job.Attempt{Number: len(j.Attempts) + 1, Backend: fmt.Sprintf("b%d", i), StartedAt: t0})
					return nil
				})
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, stored.Attempts, n, "every committed update must survive")
	seen := map[string]bool{}
	for i, a := range stored.Attempts {
		require.Equal(t, i+1, a.Number)
		seen[a.Backend] = true
	}
	require.Len(t, seen, n, "each updater's attempt appears once")
}

func testFnErrorWritesNothing(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	existing := newJob("p1", t0)
	mustCreate(t, s, existing)
	fresh := newJob("p1", t0)
	boom := errors.New("boom")
	err := s.RunTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetJob(existing.ID); err != nil {
			return err
		}
		changed := existing.Clone()
		changed.Status = job.StatusCanceled
		require.NoError(t, tx.PutJob(changed))
		require.NoError(t, tx.CreateJob(fresh))
		require.NoError(t, tx.PutBackend(store.BackendState{Name: "runway", Disabled: true}))
		require.NoError(t, tx.AddEvent(existing.ID, store.Event{At: t0, Stage: "router", Type: "dispatched"}))
		require.NoError(t, tx.PutAPIKey(store.APIKey{Hash: store.HashAPIKey("k"), ProjectID: "p1"}))
		return fmt.Errorf("wrapped: %w", boom)
	})
	require.ErrorIs(t, err, boom)

	got, err := s.GetJob(ctx, existing.ID)
	require.NoError(t, err)
	require.Equal(t, want(existing), got)
	_, err = s.GetJob(ctx, fresh.ID)
	require.ErrorIs(t, err, errclass.NotFound)
	backends, err := s.ListBackends(ctx)
	require.NoError(t, err)
	require.Empty(t, backends)
	events, err := s.ListEvents(ctx, existing.ID)
	require.NoError(t, err)
	require.Empty(t, events)
	_, err = s.GetAPIKey(ctx, store.HashAPIKey("k"))
	require.ErrorIs(t, err, errclass.NotFound)
}

func testReadAfterWrite(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j := newJob("p1", t0)
	mustCreate(t, s, j)
	reads := []struct {
		name string
		read func(tx store.Tx) error
	}{
		{"GetJob", func(tx store.Tx) error { _, err := tx.GetJob(j.ID); return err }},
		{"GetBackend", func(tx store.Tx) error { _, err := tx.GetBackend("runway"); return err }},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			var readErr error
			err := s.RunTx(ctx, func(tx store.Tx) error {
				c := j.Clone()
				c.Backend = "written"
				if err := tx.PutJob(c); err != nil {
					return err
				}
				readErr = r.read(tx)
				return nil // even when fn ignores the read's error, the tx fails
			})
			require.Error(t, readErr, "a read after a write must fail")
			require.Error(t, err, "a tx whose read after write failed must not commit")
			got, gerr := s.GetJob(ctx, j.ID)
			require.NoError(t, gerr)
			require.Empty(t, got.Backend)
		})
	}
}

func testInvalidIDs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	bad := []string{"", "a/b"}
	for _, id := range bad {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			j := newJob("p1", t0)
			j.ID = id
			err := s.RunTx(ctx, func(tx store.Tx) error { return tx.PutJob(j) })
			require.ErrorIs(t, err, errclass.Permanent)
			err = s.RunTx(ctx, func(tx store.Tx) error { return tx.PutBackend(store.BackendState{Name: id}) })
			require.ErrorIs(t, err, errclass.Permanent)
			_, err = s.GetJob(ctx, id)
			require.ErrorIs(t, err, errclass.NotFound, "no job can have an invalid id")
		})
	}
}

// seedJobs creates 25 jobs in project "p-a" (some sharing a creation time,
// to exercise the id tie-break, every third one succeeded) and 7 in "p-b",
// and returns p-a's jobs in the expected listing order.
func seedJobs(t *testing.T, s store.Store) []*job.Job {
	var listed []*job.Job
	for i := range 25 {
		j := newJob("p-a", t0.Add(time.Duration(i/2)*time.Second+time.Duration(i%2)*time.Nanosecond))
		if i%3 == 0 {
			j.Status = job.StatusSucceeded
		}
		mustCreate(t, s, j)
		listed = append(listed, want(j))
	}
	for i := range 7 {
		mustCreate(t, s, newJob("p-b", t0.Add(time.Duration(i)*time.Second+500*time.Millisecond)))
	}
	slices.SortFunc(listed, func(a, b *job.Job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return listed
}

// listAll pages through q and returns every job and the page sizes.
func listAll(t *testing.T, s store.Store, q store.ListJobsQuery) ([]*job.Job, []int) {
	t.Helper()
	var all []*job.Job
	var sizes []int
	for range 100 {
		page, err := s.ListJobs(ctxOf(t), q)
		require.NoError(t, err)
		all = append(all, page.Jobs...)
		sizes = append(sizes, len(page.Jobs))
		if page.NextPageToken == "" {
			return all, sizes
		}
		q.PageToken = page.NextPageToken
	}
	t.Fatal("pagination did not end")
	return nil, nil
}

func ids(jobs []*job.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func testListJobsPagination(t *testing.T, s store.Store) {
	expected := seedJobs(t, s)
	got, sizes := listAll(t, s, store.ListJobsQuery{ProjectID: "p-a", Limit: 10})
	require.Equal(t, []int{10, 10, 5}, sizes)
	require.Equal(t, ids(expected), ids(got), "every job once, newest first")
	require.Equal(t, expected, got, "listed jobs are whole")
}

func testListJobsStatusFilter(t *testing.T, s store.Store) {
	all := seedJobs(t, s)
	for _, st := range []job.Status{job.StatusSucceeded, job.StatusQueued, job.StatusFailed} {
		t.Run(string(st), func(t *testing.T) {
			expected := []string{}
			for _, j := range all {
				if j.Status == st {
					expected = append(expected, j.ID)
				}
			}
			got, _ := listAll(t, s, store.ListJobsQuery{ProjectID: "p-a", Status: st, Limit: 3})
			require.Equal(t, expected, ids(got))
		})
	}
	got, _ := listAll(t, s, store.ListJobsQuery{ProjectID: "p-b", Limit: 4})
	require.Len(t, got, 7)
	for _, j := range got {
		require.Equal(t, "p-b", j.ProjectID, "another project's job must never appear")
	}
}

func testListJobsDefaultLimit(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	page, err := s.ListJobs(ctx, store.ListJobsQuery{ProjectID: "nobody"})
	require.NoError(t, err)
	require.Empty(t, page.Jobs)
	require.Empty(t, page.NextPageToken)

	expected := seedJobs(t, s)
	page, err = s.ListJobs(ctx, store.ListJobsQuery{ProjectID: "p-a"})
	require.NoError(t, err)
	require.Equal(t, ids(expected), ids(page.Jobs), "25 jobs fit the default page")
	require.Empty(t, page.NextPageToken)

	// A page that ends exactly at the last job has no next page.
	page, err = s.ListJobs(ctx, store.ListJobsQuery{ProjectID: "p-a", Limit: 25})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 25)
	require.Empty(t, page.NextPageToken)

	page, err = s.ListJobs(ctx, store.ListJobsQuery{ProjectID: "p-a", Limit: store.MaxPageSize + 1})
	require.NoError(t, err, "a limit above the maximum is capped")
	require.Len(t, page.Jobs, 25)
}

func testListJobsBadQuery(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	tests := []struct {
		name string
		q    store.ListJobsQuery
	}{
		{"no project", store.ListJobsQuery{}},
		{"filters but no project", store.ListJobsQuery{Status: job.StatusFailed, Backend: "fal"}},
		{"project and every project", store.ListJobsQuery{ProjectID: "p", AllProjects: true}},
		{"since after until", store.ListJobsQuery{ProjectID: "p", Since: t0.Add(time.Hour), Until: t0}},
		{"since equals until", store.ListJobsQuery{AllProjects: true, Since: t0, Until: t0.Add(time.Nanosecond)}},
		{"unknown status", store.ListJobsQuery{ProjectID: "p", Status: "bogus"}},
		{"negative limit", store.ListJobsQuery{ProjectID: "p", Limit: -1}},
		{"token not base64", store.ListJobsQuery{ProjectID: "p", PageToken: "!!!"}},
		{"token garbage", store.ListJobsQuery{ProjectID: "p", PageToken: "Z2FyYmFnZQ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListJobs(ctx, tt.q)
			require.ErrorIs(t, err, errclass.Permanent)
		})
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	j1, j2 := newJob("p1", t0), newJob("p1", t0)
	mustCreate(t, s, j1)
	mustCreate(t, s, j2)

	evs := []store.Event{
		{At: t0.Add(2 * time.Second), Stage: "worker", Type: "submitted", Backend: "runway", Attempt: 1, Message: "m2", TraceID: "t", SpanID: "s2"},
		{At: t0, Stage: "ingest", Type: "accepted", TraceID: "t", SpanID: "s0"},
		{At: t0.Add(time.Second), Stage: "router", Type: "dispatched", Backend: "runway", Attempt: 1, TraceID: "t", SpanID: "s1"},
	}
	// Added out of order, in separate transactions and one shared one.
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.AddEvent(j1.ID, evs[0]) }))
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		if err := tx.AddEvent(j1.ID, evs[1]); err != nil {
			return err
		}
		if err := tx.AddEvent(j2.ID, store.Event{At: t0, Stage: "ingest", Type: "other job"}); err != nil {
			return err
		}
		return tx.AddEvent(j1.ID, evs[2])
	}))

	got, err := s.ListEvents(ctx, j1.ID)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, w := range []store.Event{evs[1], evs[2], evs[0]} {
		require.NotEmpty(t, got[i].ID, "stored events have ids")
		w.ID = got[i].ID
		w.At = norm(w.At)
		require.Equal(t, w, got[i], "event %d", i)
	}

	// An explicit id is kept, and orders the event.
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		return tx.AddEvent(j2.ID, store.Event{ID: "00000000000000000000-first", At: t0.Add(time.Hour), Stage: "notifier", Type: "x"})
	}))
	got, err = s.ListEvents(ctx, j2.ID)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "00000000000000000000-first", got[0].ID)
	require.Equal(t, "other job", got[1].Type)

	got, err = s.ListEvents(ctx, job.NewID())
	require.NoError(t, err)
	require.Empty(t, got)
}

func testBackendAbsent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var b store.BackendState
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) (err error) {
		b, err = tx.GetBackend("runway")
		return err
	}))
	require.Equal(t, store.BackendState{Name: "runway"}, b)
	require.False(t, b.Disabled)
	require.Equal(t, circuit.Closed, b.Breaker.Current())
	list, err := s.ListBackends(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "reading a backend does not store it")
}

func testUpdateBackend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	cfg := circuit.Config{FailureThreshold: 1}
	now := t0.Add(time.Minute)
	for _, name := range []string{"veo", "runway", "luma"} {
		_, err := store.UpdateBackend(ctx, s, name, now, func(b *store.BackendState) error {
			b.Breaker = b.Breaker.Failure(now, "503 from "+name, cfg)
			b.Disabled = name == "luma"
			return nil
		})
		require.NoError(t, err)
	}
	got, err := store.UpdateBackend(ctx, s, "runway", now, func(b *store.BackendState) error {
		require.Equal(t, circuit.Open, b.Breaker.Current(), "the stored breaker is read back")
		b.Breaker, _ = b.Breaker.Acquire(now.Add(time.Hour), cfg)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, circuit.HalfOpen, got.Breaker.State)

	list, err := s.ListBackends(ctx)
	require.NoError(t, err)
	opened := circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 1, OpenedAt: norm(now)}
	require.Equal(t, []store.BackendState{
		{Name: "luma", Disabled: true, UpdatedAt: norm(now), Breaker: withErr(opened, "503 from luma")},
		{Name: "runway", UpdatedAt: norm(now), Breaker: circuit.Breaker{
			State: circuit.HalfOpen, ConsecutiveFailures: 1, LastError: "503 from runway",
			OpenedAt: norm(now), ProbeStartedAt: norm(now.Add(time.Hour)),
		}},
		{Name: "veo", UpdatedAt: norm(now), Breaker: withErr(opened, "503 from veo")},
	}, list)

	// fn's error is returned and nothing is written.
	boom := errors.New("boom")
	_, err = store.UpdateBackend(ctx, s, "veo", now, func(b *store.BackendState) error {
		b.Disabled = true
		return boom
	})
	require.ErrorIs(t, err, boom)
	again, err := s.ListBackends(ctx)
	require.NoError(t, err)
	require.Equal(t, list, again)
}

func withErr(b circuit.Breaker, msg string) circuit.Breaker {
	b.LastError = msg
	return b
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := s.GetAPIKey(ctx, store.HashAPIKey("absent"))
	require.ErrorIs(t, err, errclass.NotFound)

	k := store.APIKey{Hash: store.HashAPIKey("dev-key"), ProjectID: "dev", CreatedAt: t0}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(k) }))
	got, err := s.GetAPIKey(ctx, k.Hash)
	require.NoError(t, err)
	k.CreatedAt = norm(k.CreatedAt)
	require.Equal(t, k, got)

	k.Revoked = true
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(k) }))
	got, err = s.GetAPIKey(ctx, k.Hash)
	require.NoError(t, err)
	require.True(t, got.Revoked)
}

func testListAPIKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	keys, err := s.ListAPIKeys(ctx, "p1")
	require.NoError(t, err)
	require.Empty(t, keys)
	require.NotNil(t, keys, "no keys is an empty slice")

	older := store.APIKey{Hash: store.HashAPIKey("older"), ProjectID: "p1", CreatedAt: t0, Prefix: "old",
		ExpiresAt: t0.Add(48 * time.Hour), LastUsedAt: t0.Add(time.Hour)}
	newer := store.APIKey{Hash: store.HashAPIKey("newer"), ProjectID: "p1", CreatedAt: t0.Add(time.Minute), Revoked: true}
	other := store.APIKey{Hash: store.HashAPIKey("other"), ProjectID: "p2", CreatedAt: t0}
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		return errors.Join(tx.PutAPIKey(older), tx.PutAPIKey(newer), tx.PutAPIKey(other))
	}))
	keys, err = s.ListAPIKeys(ctx, "p1")
	require.NoError(t, err)
	for _, k := range []*store.APIKey{&older, &newer} {
		k.CreatedAt, k.ExpiresAt, k.LastUsedAt = norm(k.CreatedAt), norm(k.ExpiresAt), norm(k.LastUsedAt)
	}
	require.Equal(t, []store.APIKey{newer, older}, keys, "newest first, every field kept, p2's key absent")

	// Read-modify-write in a transaction sees the stored record.
	require.NoError(t, s.RunTx(ctx, func(tx store.Tx) error {
		k, err := tx.GetAPIKey(older.Hash)
		if err != nil {
			return err
		}
		k.Revoked = true
		return tx.PutAPIKey(k)
	}))
	got, err := s.GetAPIKey(ctx, older.Hash)
	require.NoError(t, err)
	require.True(t, got.Revoked)
	require.Equal(t, older.LastUsedAt, got.LastUsedAt)
	err = s.RunTx(ctx, func(tx store.Tx) error {
		_, err := tx.GetAPIKey(store.HashAPIKey("absent"))
		return err
	})
	require.ErrorIs(t, err, errclass.NotFound)
}
