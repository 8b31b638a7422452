package sweeper_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/internal/leak"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/sweeper"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

func TestMain(m *testing.M) {
	shutdown := telemetry.Setup("sweeper-test") // spans with trace ids
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(leak.Check(code))
}

// clock is the injected clock of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	ctx   context.Context
	st    *memstore.Store
	q     *memqueue.Queue
	clock *clock
	sw    *sweeper.Sweeper
	cfg   sweeper.Config
}

// setup returns a sweeper over a fresh memstore and memqueue (topology of
// backend "alpha") with a clock at `now`.
func setup(t *testing.T, opts ...func(*sweeper.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, st: memstore.New(), q: memqueue.New(), clock: &clock{t: now}}
	require.NoError(t, queue.Provision(ctx, e.q, queue.Topology([]string{"alpha"})))
	e.cfg = sweeper.Config{
		Store: e.st, Queue: e.q, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	sw, err := sweeper.New(e.cfg)
	require.NoError(t, err)
	e.sw = sw
	return e
}

// put stores a job of project "dev" in status, last updated `updated`
// before the clock, with a trace and an ingest event carrying a span.
func (e *env) put(status job.Status, updated time.Duration, opts ...func(*job.Job)) *job.Job {
	e.t.Helper()
	req := job.Request{Prompt: "a red fox", DurationSeconds: 5}
	req.ApplyDefaults()
	j := job.New("", "dev", req, e.clock.Now().Add(-time.Hour))
	j.Status = status
	j.UpdatedAt = e.clock.Now().Add(-updated)
	j.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if status != job.StatusQueued {
		j.Backend = "alpha"
		j.Attempts = []job.Attempt{{
			Number: 1, Backend: "alpha", Model: "a1", Status: job.AttemptDispatched,
			EstimatedCost: money.MustParse("0.25"), DurationSeconds: 5, StartedAt: j.UpdatedAt,
		}}
	}
	for _, o := range opts {
		o(j)
	}
	require.NoError(e.t, e.st.RunTx(e.ctx, func(tx store.Tx) error {
		c := j.Clone()
		store.NormalizeTimes(c)
		if err := tx.CreateJob(c); err != nil {
			return err
		}
		return tx.AddEvent(j.ID, store.Event{At: j.CreatedAt, Stage: "ingest", Type: "accepted",
			TraceID: j.TraceID, SpanID: "00f067aa0ba902b7"})
	}))
	return j
}

func (e *env) get(id string) *job.Job {
	e.t.Helper()
	j, err := e.st.GetJob(e.ctx, id)
	require.NoError(e.t, err)
	return j
}

func (e *env) sweep() sweeper.Result {
	e.t.Helper()
	res, err := e.sw.Sweep(e.ctx)
	require.NoError(e.t, err)
	return res
}

func (e *env) events(id string) []store.Event {
	e.t.Helper()
	evs, err := e.st.ListEvents(e.ctx, id)
	require.NoError(e.t, err)
	return evs
}

// traceOf returns the trace id of a traceparent attribute.
func traceOf(attrs map[string]string) string {
	tp := attrs[queue.AttrTraceParent]
	if len(tp) < 35 {
		return ""
	}
	return tp[3:35]
}

func TestQueuedJobIsRedrivenThenFailed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	stuck := e.put(job.StatusQueued, 3*time.Minute)
	fresh := e.put(job.StatusQueued, time.Minute)

	res := e.sweep()
	require.Equal(t, sweeper.Result{Examined: 1, Redriven: 1}, res)
	msgs := e.q.Published(queue.TopicJobs)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, stuck.ID, m.Attributes[queue.AttrJobID])
	require.Equal(t, "dev", m.Attributes[queue.AttrProjectID])
	require.Equal(t, "1", m.Attributes[queue.AttrAttempt])
	require.Equal(t, stuck.TraceID, traceOf(m.Attributes), "the re-drive carries the job's trace")

	j := e.get(stuck.ID)
	require.Equal(t, job.StatusQueued, j.Status)
	require.Equal(t, 1, j.Redrives)
	require.Equal(t, now, *j.RedrivenAt)
	require.Equal(t, now, j.UpdatedAt)
	evs := e.events(stuck.ID)
	last := evs[len(evs)-1]
	require.Equal(t, sweeper.EventTypeRedriven, last.Type)
	require.Equal(t, sweeper.Stage, last.Stage)
	require.Contains(t, last.Message, "re-drive 1 of 3")
	require.Equal(t, stuck.TraceID, last.TraceID)
	require.Equal(t, 0, e.get(fresh.ID).Redrives, "within its horizon")
	_, err := storetest.UpdateJob(e.ctx, e.st, fresh.ID, func(j *job.Job) error {
		return j.Transition(job.StatusCanceled, now) // out of the way of what follows
	})
	require.NoError(t, err)

	// Sweeping again at once does nothing: the re-drive moved updated_at.
	require.Equal(t, sweeper.Result{Examined: 0}, e.sweep())
	require.Len(t, e.q.Published(queue.TopicJobs), 1)

	// Each further re-drive waits twice as long: 4m, then 8m.
	redrives := func() int { return e.get(stuck.ID).Redrives }
	e.sweepAfter(3 * time.Minute)
	require.Equal(t, 1, redrives(), "2m·2 has not passed")
	e.sweepAfter(time.Minute)
	require.Equal(t, 2, redrives())
	e.sweepAfter(7 * time.Minute)
	require.Equal(t, 2, redrives(), "2m·4 has not passed")
	e.sweepAfter(time.Minute)
	require.Equal(t, 3, redrives())
	n := 0
	for _, m := range e.q.Published(queue.TopicJobs) {
		if m.Attributes[queue.AttrJobID] == stuck.ID {
			n++
		}
	}
	require.Equal(t, 3, n, "one message per re-drive")

	// After three re-drives without progress, the next due one fails it.
	require.Equal(t, 0, e.sweepAfter(15*time.Minute).Failed)
	res = e.sweepAfter(time.Minute)
	require.Equal(t, 1, res.Failed)
	j = e.get(stuck.ID)
	require.Equal(t, job.StatusFailed, j.Status)
	require.Equal(t, job.CodeTimeout, j.Error.Code)
	require.Contains(t, j.Error.Message, "after 3 re-drives")
	require.NotNil(t, j.CompletedAt)
	life := e.q.Published(queue.TopicEvents)
	require.Len(t, life, 1)
	var le dispatch.Lifecycle
	le, err = dispatch.DecodeLifecycle(life[0].Data)
	require.NoError(t, err)
	require.Equal(t, dispatch.LifecycleOf(j), le)
	evs = e.events(stuck.ID)
	require.Equal(t, sweeper.EventTypeFailed, evs[len(evs)-1].Type)

	// A terminal job is left alone.
	e.clock.Add(time.Hour)
	e.sweep()
	require.Len(t, e.q.Published(queue.TopicEvents), 1)
}

// sweepAfter moves the clock by d and sweeps.
func (e *env) sweepAfter(d time.Duration) sweeper.Result {
	e.t.Helper()
	e.clock.Add(d)
	return e.sweep()
}

func TestDispatchedAndRunningJobsGetTheirDispatchAgain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dispatched := e.put(job.StatusDispatched, 6*time.Minute)
	running := e.put(job.StatusRunning, time.Hour, func(j *job.Job) {
		a := &j.Attempts[0]
		a.Status, a.Handle = job.AttemptRunning, `{"id":"gen-1"}`
		a.SubmittedAt, a.LastProgressAt = agoPtr(50*time.Minute), agoPtr(16*time.Minute)
	})
	busy := e.put(job.StatusRunning, time.Hour, func(j *job.Job) {
		j.Attempts[0].Status, j.Attempts[0].LastProgressAt = job.AttemptRunning, agoPtr(time.Minute)
	})

	res := e.sweep()
	require.Equal(t, sweeper.Result{Examined: 3, Redriven: 2}, res)
	msgs := e.q.Published(queue.DispatchTopic("alpha"))
	require.Len(t, msgs, 2)
	got := map[string]dispatch.Message{}
	for _, m := range msgs {
		d, err := dispatch.Decode(m.Data)
		require.NoError(t, err, "a worker decodes it")
		require.Equal(t, d.JobID, m.Attributes[queue.AttrJobID])
		require.Equal(t, "1", m.Attributes[queue.AttrAttempt])
		got[d.JobID] = d
	}
	want := dispatch.Message{ProjectID: "dev", Attempt: 1, Backend: "alpha", Model: "a1", Seconds: 5, Estimate: money.MustParse("0.25")}
	for _, id := range []string{dispatched.ID, running.ID} {
		w := want
		w.JobID = id
		require.Equal(t, w, got[id])
	}
	require.Empty(t, e.q.Published(queue.TopicJobs))
	require.Equal(t, job.StatusRunning, e.get(running.ID).Status, "a re-drive never changes the status")
	require.Equal(t, `{"id":"gen-1"}`, e.get(running.ID).Attempts[0].Handle)
	require.Equal(t, 0, e.get(busy.ID).Redrives, "recent progress")
}

func TestProgressResetsTheCount(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.put(job.StatusDispatched, 6*time.Minute)
	require.Equal(t, 1, e.sweep().Redriven)

	// A worker takes it: dispatched → running.
	e.clock.Add(time.Minute)
	_, err := storetest.UpdateJob(e.ctx, e.st, j.ID, func(j *job.Job) error {
		a := j.CurrentAttempt()
		a.Status, a.SubmittedAt = job.AttemptSubmitting, new(e.clock.Now())
		return j.Transition(job.StatusRunning, e.clock.Now())
	})
	require.NoError(t, err)
	require.Equal(t, 0, sweeper.RedrivesInARow(e.get(j.ID)))

	// Stuck running later: re-driven as the first of a new series.
	require.Equal(t, 1, e.sweepAfter(16*time.Minute).Redriven)
	require.Equal(t, 1, e.get(j.ID).Redrives)
}

func TestHardTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *sweeper.Config) { c.HardTimeout = 2 * time.Hour })
	j := e.put(job.StatusRunning, 20*time.Minute, func(j *job.Job) {
		j.CreatedAt = e.clock.Now().Add(-2 * time.Hour)
		j.Attempts[0].Status = job.AttemptRunning
	})
	require.Equal(t, 1, e.sweep().Failed)
	got := e.get(j.ID)
	require.Equal(t, job.StatusFailed, got.Status)
	require.Equal(t, job.CodeTimeout, got.Error.Code)
	require.Contains(t, got.Error.Message, "hard timeout 2h0m0s")
	a := got.Attempts[0]
	require.Equal(t, job.AttemptFailed, a.Status, "the unfinished attempt fails too")
	require.Equal(t, job.CodeTimeout, a.Error.Code)
	require.NotNil(t, a.EndedAt)
}

// TestFailureReleasesTheBudget: a job that times out gives back what its
// attempt reserved.
func TestFailureReleasesTheBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *sweeper.Config) { c.MaxRedrives = -1 })
	reserved := money.MustParse("0.25")
	j := e.put(job.StatusDispatched, 6*time.Minute, func(j *job.Job) { j.Attempts[0].Reserved = reserved })
	period := budget.PeriodOf(j.Attempts[0].StartedAt)
	require.NoError(t, e.st.RunTx(e.ctx, func(tx store.Tx) error {
		return tx.PutPeriod(store.Period{ProjectID: "dev", ID: period, Reserved: reserved})
	}))

	require.Equal(t, 1, e.sweep().Failed)
	p, _, err := budget.ReadPeriod(e.ctx, e.st, "dev", period)
	require.NoError(t, err)
	require.Equal(t, money.Micros(0), p.Reserved)
	require.Equal(t, money.Micros(0), p.Spent)
}

// TestConcurrentSweepersRedriveOnce: sweepers of several routers sweeping
// at the same time publish each due re-drive once and fail a job once.
func TestConcurrentSweepersRedriveOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []string
	for range 10 {
		ids = append(ids, e.put(job.StatusQueued, 3*time.Minute).ID)
	}
	doomed := e.put(job.StatusDispatched, 6*time.Minute, func(j *job.Job) { j.CreatedAt = now.Add(-4 * time.Hour) })

	sweepers := make([]*sweeper.Sweeper, 5)
	for i := range sweepers {
		sw, err := sweeper.New(e.cfg)
		require.NoError(t, err)
		sweepers[i] = sw
	}
	var wg sync.WaitGroup
	for _, sw := range sweepers {
		wg.Go(func() {
			_, err := sw.Sweep(e.ctx)
			require.NoError(t, err)
		})
	}
	wg.Wait()

	perJob := map[string]int{}
	for _, m := range e.q.Published(queue.TopicJobs) {
		perJob[m.Attributes[queue.AttrJobID]]++
	}
	require.Len(t, perJob, len(ids))
	for _, id := range ids {
		require.Equal(t, 1, perJob[id], "job %s", id)
		require.Equal(t, 1, e.get(id).Redrives)
	}
	require.Len(t, e.q.Published(queue.TopicEvents), 1, "one lifecycle event")
	require.Equal(t, job.StatusFailed, e.get(doomed.ID).Status)
	failed := 0
	for _, ev := range e.events(doomed.ID) {
		if ev.Type == sweeper.EventTypeFailed {
			failed++
		}
	}
	require.Equal(t, 1, failed)
}

// TestRun: the loop sweeps every interval until ctx is done.
func TestRun(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *sweeper.Config) { c.Interval = 5 * time.Millisecond })
	j := e.put(job.StatusQueued, 3*time.Minute)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.sw.Run(ctx) }()

	waitFor(t, func() bool { return len(e.q.Published(queue.TopicJobs)) == 1 })
	// The injected clock stands still: no second re-drive is due however
	// often it sweeps; moving it makes the next one due.
	e.clock.Add(4 * time.Minute)
	waitFor(t, func() bool { return len(e.q.Published(queue.TopicJobs)) == 2 })
	require.Equal(t, 2, e.get(j.ID).Redrives)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := sweeper.New(sweeper.Config{})
	require.ErrorContains(t, err, "Config.Store")
	require.ErrorContains(t, err, "Config.Queue")
	_, err = sweeper.New(sweeper.Config{Store: memstore.New(), Queue: memqueue.New(), Batch: store.MaxPageSize + 1})
	require.ErrorContains(t, err, "Config.Batch")
}
