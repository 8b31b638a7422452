package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
)

// TestMultiProcessStack runs ingest, router and two workers as separate
// processes configured only by environment variables, against `aiprod
// emulators` and the simulated backends. One worker is killed with SIGKILL
// while jobs are in flight: every job still succeeds, and no backend is
// ever sent the same prompt twice.
func TestMultiProcessStack(t *testing.T) {
	t.Parallel()
	st := startStack(t, stackConfig{Routers: 1, Workers: 2, SimSpeed: 1})
	c := st.client
	victim := st.workers[0]
	ctx := context.Background()

	const n = 16
	ids := make([]string, n)
	for i := range n {
		j, err := c.Submit(ctx, job.Request{Prompt: fmt.Sprintf("multi-process job %d", i), DurationSeconds: 5}, client.SubmitOptions{})
		require.NoError(t, err)
		ids[i] = j.ID
	}
	// Kill a worker while generations are running at the providers.
	require.Eventually(t, func() bool {
		p, err := c.List(ctx, job.StatusRunning, 100, "")
		return err == nil && len(p.Jobs) >= 2
	}, 60*time.Second, 20*time.Millisecond)
	require.True(t, victim.Kill(), "worker-1 was running")
	killed := time.Now()

	deadline, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	attempts := 0 // every attempt submits at most once; a submit cut off by the kill fails over
	for _, id := range ids {
		j, err := c.Wait(deadline, id, 100*time.Millisecond, nil)
		require.NoError(t, err, "job %s", id)
		require.Equal(t, job.StatusSucceeded, j.Status, "job %s: %+v attempts %+v", id, j.Error, j.Attempts)
		require.NotEmpty(t, j.Result.VideoURL)
		require.Regexp(t, hex32, j.TraceID)
		t.Logf("job %s done %.1fs after the kill, attempts %d", id[:8], j.CompletedAt.Sub(killed).Seconds(), len(j.Attempts))
		attempts += len(j.Attempts)
		for _, a := range j.Attempts[:len(j.Attempts)-1] {
			// Only the kill may end an attempt: its submit was cut off with
			// no handle recorded, so the job failed over (worker doc,
			// "Reconciliation") — never a second submit to one backend.
			require.NotNil(t, a.Error, "job %s attempt %d", id, a.Number)
			require.Equal(t, job.CodeBackendUnavailable, a.Error.Code, "job %s attempt %d: %s", id, a.Number, a.Error.Message)
		}
	}
	submitted := 0
	for name, s := range st.sims.Sims {
		stats := s.Core.Stats()
		require.Zero(t, stats.RepeatedPrompts, "backend %s got a prompt twice", name)
		submitted += stats.Submitted
	}
	// Every job's last attempt was submitted once; an attempt the kill cut
	// off failed over with no handle recorded, whether or not its submit
	// left the worker before the kill (the intent is recorded first): at
	// most once, never twice.
	require.GreaterOrEqual(t, submitted, len(ids), "each job's successful attempt was submitted")
	require.LessOrEqual(t, submitted, attempts, "no attempt submitted twice")
	require.Empty(t, append(victim.Unexpected(), st.workers[1].Unexpected()...), "no service crashed")
}
