package test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// TestDeadlinesSpillOverOnMakeRun is issue 15's must-show on `make run`'s
// stack (the dev stack with its defaults: simulators at full speed, polls
// every 100 ms): with the cheapest backend (fal) slowed by 2 s on every API
// call, so that waiting for its 10 slots would miss the deadline, 300 jobs
// with deadline_seconds 120 submitted at once all succeed within their
// deadline, spread over more than one backend.
func TestDeadlinesSpillOverOnMakeRun(t *testing.T) {
	t.Parallel()
	telemetry.Setup("aiprod-test")
	st, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	c := client.New(st.APIURL, devstack.APIKeyDefault)

	resp, err := http.Post(st.Sims["fal"].URL+"/__sim/faults", "application/json", strings.NewReader(`{"latency_ms": 2000}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	const jobs, deadline = 300, 120
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ids := make([]string, jobs)
	var wg sync.WaitGroup
	errs := make(chan error, jobs)
	for i := range jobs {
		wg.Go(func() {
			d := deadline
			j, err := c.Submit(ctx, job.Request{Prompt: "spill " + strconv.Itoa(i), DurationSeconds: 5, DeadlineSeconds: &d},
				client.SubmitOptions{})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	perBackend := map[string]int{}
	var slowest time.Duration
	for _, id := range ids {
		j, err := c.Wait(ctx, id, 250*time.Millisecond, nil)
		require.NoError(t, err, "job %s did not finish", id)
		require.Equal(t, job.StatusSucceeded, j.Status, "job %s: %+v", id, j.Error)
		took := j.CompletedAt.Sub(j.CreatedAt)
		require.LessOrEqual(t, took, deadline*time.Second, "job %s on %s took %s", id, j.Backend, took)
		slowest = max(slowest, took)
		perBackend[j.Backend]++
	}
	t.Logf("300 jobs, the slowest in %s, by backend: %v", slowest.Round(time.Millisecond), perBackend)
	require.Greater(t, len(perBackend), 1, "spread over more than one backend")
	require.Less(t, perBackend["fal"], jobs, "fal alone would have missed the deadline")
}
