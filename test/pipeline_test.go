package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// setup starts a whole dev stack on free ports with fast simulators and a
// short circuit cool-down.
func setup(t *testing.T) (*devstack.Stack, *client.Client) {
	t.Helper()
	return setupWithCooldown(t, 500*time.Millisecond)
}

func setupWithCooldown(t *testing.T, cooldown time.Duration) (*devstack.Stack, *client.Client) {
	t.Helper()
	telemetry.Setup("aiprod-test")
	st, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", SimSpeed: 0.1, PollInterval: 20 * time.Millisecond,
		Circuit: circuit.Config{Cooldown: cooldown},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st, client.New(st.APIURL, devstack.APIKeyDefault)
}

func waitTerminal(t *testing.T, c *client.Client, id string) *client.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, id, 20*time.Millisecond, nil)
	require.NoError(t, err, "job %s did not finish", id)
	return j
}

func post(t *testing.T, url, key string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "body is JSON: %s", b)
	return resp.StatusCode, out
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestJobSucceedsEndToEnd: a curl-like POST gets 202 and the job becomes
// succeeded with backend, cost, video URL and trace id.
func TestJobSucceedsEndToEnd(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	code, body := post(t, st.APIURL+"/v1/jobs", devstack.APIKeyDefault, []byte(`{"prompt":"a red fox running through snow","duration_seconds":5}`), nil)
	require.Equal(t, http.StatusAccepted, code)
	id := body["id"].(string)

	j := waitTerminal(t, c, id)
	require.Equal(t, job.StatusSucceeded, j.Status, "error: %+v", j.Error)
	require.NotEmpty(t, j.Backend)
	require.Greater(t, int64(j.Cost), int64(0))
	require.NotNil(t, j.Result)
	require.True(t, strings.HasPrefix(j.Result.VideoURL, "http"), j.Result.VideoURL)
	require.Regexp(t, hex32, j.TraceID)

	// The video is really there.
	resp, err := http.Get(j.Result.VideoURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// One trace: every event of the timeline carries the job's trace id.
	evs, err := c.Events(context.Background(), id)
	require.NoError(t, err)
	stages := map[string]bool{}
	for _, e := range evs {
		require.Equal(t, j.TraceID, e.TraceID, "event %s/%s", e.Stage, e.Type)
		stages[e.Stage] = true
	}
	require.True(t, stages["ingest"] && stages["router"] && stages["worker"], "stages seen: %v", stages)
}

// TestEveryBackendServesPinnedJobs: a job pinned to each backend succeeds
// through that provider's real adapter and its simulator.
func TestEveryBackendServesPinnedJobs(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	for _, name := range st.Catalog.Names() {
		t.Run(name, func(t *testing.T) {
			j, err := c.Submit(context.Background(), job.Request{Prompt: "pinned to " + name, DurationSeconds: 4, Backends: []string{name}}, client.SubmitOptions{})
			require.NoError(t, err)
			j = waitTerminal(t, c, j.ID)
			require.Equal(t, job.StatusSucceeded, j.Status, "error: %+v attempts: %+v", j.Error, j.Attempts)
			require.Equal(t, name, j.Backend)
			require.NotEmpty(t, j.Result.VideoURL)
			require.Greater(t, int64(j.Cost), int64(0))
		})
	}
	for name, s := range st.Sims {
		require.Zero(t, s.Core.Stats().RepeatedPrompts, "backend %s was sent a prompt twice", name)
	}
}

func backendsView(t *testing.T, c *client.Client) map[string]client.Backend {
	t.Helper()
	bs, err := c.Backends(context.Background())
	require.NoError(t, err)
	out := map[string]client.Backend{}
	for _, b := range bs {
		out[b.Name] = b
	}
	return out
}

// TestFailoverCircuitAndRecovery: with the cheapest backend down, jobs
// succeed on another; three failures open its circuit; restored, it is used
// again after the cool-down probe.
func TestFailoverCircuitAndRecovery(t *testing.T) {
	t.Parallel()
	// The cool-down must outlast the "while open" job even on a loaded
	// machine, or that job is the half-open probe.
	st, c := setupWithCooldown(t, 5*time.Second)
	ctx := context.Background()
	req := job.Request{Prompt: "probe the cheapest", DurationSeconds: 5}

	first, err := c.Submit(ctx, req, client.SubmitOptions{})
	require.NoError(t, err)
	first = waitTerminal(t, c, first.ID)
	require.Equal(t, job.StatusSucceeded, first.Status)
	cheapest := first.Backend
	sim := st.Sims[cheapest]
	sim.Core.SetFaults(simFaults(true))

	for i := range 3 {
		req.Prompt = fmt.Sprintf("while %s is down #%d", cheapest, i)
		j, err := c.Submit(ctx, req, client.SubmitOptions{})
		require.NoError(t, err)
		j = waitTerminal(t, c, j.ID)
		require.Equal(t, job.StatusSucceeded, j.Status, "error: %+v", j.Error)
		require.NotEqual(t, cheapest, j.Backend, "served by another backend")
		require.Equal(t, first.Cost, j.Cost, "the next cheapest costs the same here (a tie on price)")
	}
	b := backendsView(t, c)[cheapest]
	require.Equal(t, "open", b.Circuit)
	require.GreaterOrEqual(t, b.ConsecutiveFailures, 3)
	require.NotEmpty(t, b.LastError)

	// While open, jobs go elsewhere without touching it, once the router's
	// health cache has seen it open (a circuit opened less than
	// HealthCacheTTL ago may still be routed to, and fail over).
	time.Sleep(2 * devstack.HealthCacheTTL)
	before := sim.Core.Stats()
	req.Prompt = "while open"
	j, err := c.Submit(ctx, req, client.SubmitOptions{})
	require.NoError(t, err)
	j = waitTerminal(t, c, j.ID)
	require.NotEqual(t, cheapest, j.Backend)
	require.Len(t, j.Attempts, 1, "an open circuit is skipped, not tried")
	require.Equal(t, before.InjectedErrors, sim.Core.Stats().InjectedErrors)

	// Restored: after the cool-down, the probe closes it and it serves again.
	sim.Core.SetFaults(simFaults(false))
	require.Eventually(t, func() bool {
		req.Prompt = fmt.Sprintf("after restore %d", time.Now().UnixNano())
		j, err := c.Submit(ctx, req, client.SubmitOptions{})
		require.NoError(t, err)
		j = waitTerminal(t, c, j.ID)
		return j.Backend == cheapest && j.Status == job.StatusSucceeded
	}, 20*time.Second, 100*time.Millisecond)
	// The breaker is written right after the probe job's outcome.
	require.Eventually(t, func() bool { return backendsView(t, c)[cheapest].Circuit == "closed" },
		5*time.Second, 10*time.Millisecond)
}

// TestIdempotencyKey: the same key twice gives one job.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	body := []byte(`{"prompt":"only once","duration_seconds":5}`)
	hdr := map[string]string{"Idempotency-Key": "order-42"}
	code1, j1 := post(t, st.APIURL+"/v1/jobs", devstack.APIKeyDefault, body, hdr)
	code2, j2 := post(t, st.APIURL+"/v1/jobs", devstack.APIKeyDefault, body, hdr)
	require.Equal(t, http.StatusAccepted, code1)
	require.Equal(t, http.StatusAccepted, code2)
	require.Equal(t, j1["id"], j2["id"])
	j := waitTerminal(t, c, j1["id"].(string))
	require.Equal(t, job.StatusSucceeded, j.Status)

	page, err := c.List(context.Background(), "", 100, "")
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1, "one job for one key")
	total := 0
	for _, s := range st.Sims {
		total += s.Core.Stats().Submitted
	}
	require.Equal(t, 1, total, "one generation paid for")
}

// TestBadInputIsRejectedAndHarmless: every bad request is a 4xx JSON error
// naming the field, and the service keeps serving.
func TestBadInputIsRejectedAndHarmless(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	url := st.APIURL + "/v1/jobs"
	tests := []struct {
		name  string
		key   string
		body  []byte
		code  int
		field string
	}{
		{"missing prompt", "dev-key", []byte(`{"duration_seconds":5}`), 400, "prompt"},
		{"duration 0", "dev-key", []byte(`{"prompt":"p","duration_seconds":0}`), 400, "duration_seconds"},
		{"duration 61", "dev-key", []byte(`{"prompt":"p","duration_seconds":61}`), 400, "duration_seconds"},
		{"tier ultra", "dev-key", []byte(`{"prompt":"p","duration_seconds":5,"quality_tier":"ultra"}`), 400, "quality_tier"},
		{"unknown field", "dev-key", []byte(`{"prompt":"p","duration_seconds":5,"colour":"red"}`), 400, "colour"},
		{"4001-char prompt", "dev-key", []byte(`{"prompt":"` + strings.Repeat("x", 4001) + `","duration_seconds":5}`), 400, "prompt"},
		{"malformed JSON", "dev-key", []byte(`{"prompt":`), 400, ""},
		{"2 MiB body", "dev-key", bytes.Repeat([]byte("a"), 2<<20), 413, ""},
		{"missing key", "", []byte(`{"prompt":"p","duration_seconds":5}`), 401, ""},
		{"wrong key", "not-a-key", []byte(`{"prompt":"p","duration_seconds":5}`), 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, url, tt.key, tt.body, nil)
			require.Equal(t, tt.code, code)
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "error object: %v", body)
			require.NotEmpty(t, e["code"])
			require.NotEmpty(t, e["message"])
			if tt.field != "" {
				require.Equal(t, tt.field, e["field"])
			}
		})
	}
	j, err := c.Submit(context.Background(), job.Request{Prompt: "still serving", DurationSeconds: 5}, client.SubmitOptions{})
	require.NoError(t, err)
	require.Equal(t, job.StatusSucceeded, waitTerminal(t, c, j.ID).Status)
}

// TestPoisonMessageDeadLettered: a message on aiprod-jobs that is not JSON
// ends on aiprod-jobs-dlq with a reason, and messages behind it still flow,
// including a valid request published straight to the topic.
func TestPoisonMessageDeadLettered(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	ctx := context.Background()
	_, err := st.Queue.Publish(ctx, queue.TopicJobs, queue.Message{Data: []byte("this is not JSON"), Attributes: map[string]string{queue.AttrProjectID: "dev"}})
	require.NoError(t, err)
	pubID, err := client.Publish(ctx, st.Queue, "dev", job.Request{Prompt: "published straight to Pub/Sub", DurationSeconds: 5}, "upstream-1")
	require.NoError(t, err)
	require.NotEmpty(t, pubID)

	var (
		mu   sync.Mutex
		dead []*queue.Message
	)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- st.Queue.Receive(rctx, queue.DeadLetterTopic(queue.TopicJobs), queue.ReceiveOptions{}, func(_ context.Context, m *queue.Message) {
			mu.Lock()
			dead = append(dead, m)
			mu.Unlock()
			m.Ack()
		})
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(dead) == 1
	}, 20*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, "this is not JSON", string(dead[0].Data))
	require.NotEmpty(t, dead[0].Attr(queue.AttrReason))
	require.Equal(t, queue.SubscriptionRouter, dead[0].Attr(queue.AttrSourceSub))

	// The request behind it flowed: the router created and ran the job.
	id := job.IDForKey("dev", "upstream-1")
	require.Eventually(t, func() bool {
		j, err := c.Get(ctx, id)
		return err == nil && j.Status.Terminal()
	}, 20*time.Second, 20*time.Millisecond)
	j, err := c.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, job.StatusSucceeded, j.Status)
}
