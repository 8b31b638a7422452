package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// stages move a submitted job to the state a router and a worker leave it
// in at each stage of the pipeline.
var stages = []struct {
	name   string
	status job.Status
	move   func(j *job.Job, now time.Time) error
}{
	{"queued", job.StatusQueued, func(*job.Job, time.Time) error { return nil }},
	{"dispatched", job.StatusDispatched, func(j *job.Job, now time.Time) error {
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Status: job.AttemptDispatched,
			EstimatedCost: money.MustParse("0.25"), StartedAt: now})
		j.Backend = "runway"
		return j.Transition(job.StatusDispatched, now)
	}},
	{"running, submit in flight", job.StatusRunning, func(j *job.Job, now time.Time) error {
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Status: job.AttemptSubmitting,
			StartedAt: now, SubmittedAt: &now})
		if err := j.Transition(job.StatusDispatched, now); err != nil {
			return err
		}
		return j.Transition(job.StatusRunning, now)
	}},
	{"running, generating", job.StatusRunning, func(j *job.Job, now time.Time) error {
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Status: job.AttemptRunning,
			Handle: `{"id":"gen-1"}`, StartedAt: now, SubmittedAt: &now, LastProgressAt: &now})
		if err := j.Transition(job.StatusDispatched, now); err != nil {
			return err
		}
		return j.Transition(job.StatusRunning, now)
	}},
	{"running, after a failover", job.StatusRunning, func(j *job.Job, now time.Time) error {
		end := now
		j.Attempts = append(j.Attempts,
			job.Attempt{Number: 1, Backend: "luma", Status: job.AttemptFailed, StartedAt: now, EndedAt: &end,
				Error: &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: "503"}},
			job.Attempt{Number: 2, Backend: "runway", Status: job.AttemptRunning, Handle: `{"id":"gen-2"}`,
				StartedAt: now, SubmittedAt: &now})
		j.ExcludedBackends = []string{"luma"}
		if err := j.Transition(job.StatusDispatched, now); err != nil {
			return err
		}
		return j.Transition(job.StatusRunning, now)
	}},
}

// TestCancelAtEveryStage: a job can be canceled whatever stage it is at:
// the transition is recorded with its event, the notifier hears of it in
// the job's trace, and a second cancel is a 409 that changes nothing.
func TestCancelAtEveryStage(t *testing.T) {
	t.Parallel()
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			ctx := context.Background()
			j := e.submit(keyA)
			moved, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error { return st.move(j, e.clock.Now()) })
			require.NoError(t, err)
			require.Equal(t, st.status, moved.Status)
			eventsBefore := len(e.events(j.ID))

			r := e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "")
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			got := decode[job.Job](t, r)
			require.Equal(t, job.StatusCanceled, got.Status)
			require.Equal(t, job.CodeCanceled, got.Error.Code)
			require.NotNil(t, got.CompletedAt)

			stored, err := e.st.GetJob(ctx, j.ID)
			require.NoError(t, err)
			require.Equal(t, job.StatusCanceled, stored.Status)
			require.Equal(t, got.CompletedAt, stored.CompletedAt)
			require.Len(t, stored.Attempts, len(moved.Attempts), "attempts are kept")
			for i, a := range stored.Attempts {
				require.Equal(t, moved.Attempts[i].Handle, a.Handle, "a worker still finds the handle to cancel at the provider")
			}
			if cur := stored.CurrentAttempt(); cur != nil && moved.CurrentAttempt().Status == job.AttemptDispatched {
				require.Equal(t, job.AttemptCanceled, cur.Status, "a dispatch no worker took never reaches a provider")
			}

			evs := e.events(j.ID)
			require.Len(t, evs, eventsBefore+1)
			require.Equal(t, "canceled", evs[len(evs)-1].Type)

			life := e.q.Published(queue.TopicEvents)
			require.Len(t, life, 1)
			le, err := dispatch.DecodeLifecycle(life[0].Data)
			require.NoError(t, err)
			require.Equal(t, job.StatusCanceled, le.Status)
			require.Equal(t, j.ID, le.JobID)
			require.Equal(t, j.TraceID, traceOf(t, life[0].Attributes[queue.AttrTraceParent]))

			// Canceling again: 409, nothing more recorded or published.
			requireError(t, e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, ""), http.StatusConflict, "conflict", "")
			require.Len(t, e.events(j.ID), eventsBefore+1)
			require.Len(t, e.q.Published(queue.TopicEvents), 1)
		})
	}
}

// TestCancelTerminalJobs: succeeded, failed and canceled jobs answer 409
// and stay as they are.
func TestCancelTerminalJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	for _, end := range []func(j *job.Job, now time.Time) error{
		func(j *job.Job, now time.Time) error {
			if err := j.Transition(job.StatusDispatched, now); err != nil {
				return err
			}
			j.Result = &job.Result{VideoURL: "https://example.com/v.mp4", DurationSeconds: 5}
			return j.Transition(job.StatusSucceeded, now)
		},
		func(j *job.Job, now time.Time) error { return j.Fail(job.CodeNoBackend, "nothing fits", now) },
		func(j *job.Job, now time.Time) error { return j.Transition(job.StatusCanceled, now) },
	} {
		j := e.submit(keyA)
		before, err := storetest.UpdateJob(ctx, e.st, j.ID, func(j *job.Job) error { return end(j, e.clock.Now()) })
		require.NoError(t, err)
		d := requireError(t, e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, ""), http.StatusConflict, "conflict", "")
		require.Contains(t, d.Message, string(before.Status))
		after, err := e.st.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, before, after)
	}
	require.Empty(t, e.q.Published(queue.TopicEvents))
}

// TestConcurrentCancels: of many cancels racing, one wins (200) and the
// others see the canceled job (409): one transition, one event, one
// lifecycle event.
func TestConcurrentCancels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.submit(keyA)
	const n = 10
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "").status })
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: n - 1}, count)
	canceled := 0
	for _, ev := range e.events(j.ID) {
		if ev.Type == "canceled" {
			canceled++
		}
	}
	require.Equal(t, 1, canceled)
	require.Len(t, e.q.Published(queue.TopicEvents), 1)
}

func (e *env) events(id string) []store.Event {
	e.t.Helper()
	evs, err := e.st.ListEvents(context.Background(), id)
	require.NoError(e.t, err)
	return evs
}
