package worker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/worker"
)

func stepMessage(t *testing.T, msg dispatch.Message, deliveryAttempt int) *queue.Message {
	t.Helper()
	data, err := msg.Encode()
	require.NoError(t, err)
	return &queue.Message{ID: "push-" + msg.JobID, Data: data, Attributes: msg.Attributes(), DeliveryAttempt: deliveryAttempt}
}

func TestStepLongGenerationAcrossDeliveries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: 4}) // the fifth poll succeeds
	w := e.newWorker(t, func(c *worker.Config) { c.StepPolls = 1 })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	for i := 1; i <= 4; i++ {
		res := w.Step(withTag(ctx, "push"), "alpha", stepMessage(t, msg, i))
		require.Equal(t, worker.StepResult{Later: true, Reason: "step poll limit of 1 reached"}, res, "step %d", i)
		got := e.job(t, j.ID)
		require.Equal(t, job.StatusRunning, got.Status)
		require.Equal(t, "alpha-gen-1", got.Attempts[0].Handle, "step %d resumes the stored handle", i)
	}
	res := w.Step(withTag(ctx, "push"), "alpha", stepMessage(t, msg, 5))
	require.Equal(t, worker.StepResult{Ack: true}, res)

	got := e.job(t, j.ID)
	require.Equal(t, job.StatusSucceeded, got.Status)
	require.Equal(t, money.MustParse("0.5"), got.Cost)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID), "exactly one Submit across five deliveries")
	require.Equal(t, 5, e.fakes["alpha"].polls("push"), "one poll per step")
	require.Equal(t, freeSlots(2), e.slots(t, "alpha", 2), "the slot held across steps is released at the end")
}

func TestStepTimeBudget(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})}) // never finishes
	w := e.newWorker(t, func(c *worker.Config) { c.StepBudget = 30 * time.Millisecond })
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))

	res := w.Step(ctx, "alpha", stepMessage(t, msg, 1))
	require.True(t, res.Later, "%+v", res)
	require.False(t, res.Ack)
	require.Contains(t, res.Reason, "step budget spent")
	require.Equal(t, job.AttemptRunning, e.job(t, j.ID).Attempts[0].Status)
	held := e.slots(t, "alpha", 2)
	require.Equal(t, j.ID+"#1", held[0].Holder, "the generation keeps its slot between steps")
}

// pushBody is a Pub/Sub push request as Pub/Sub sends it.
func pushBody(t *testing.T, sub string, data []byte, attrs map[string]string, deliveryAttempt int) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(data), "attributes": attrs,
			"messageId": "136969346945", "message_id": "136969346945",
			"publishTime": "2026-11-25T12:00:00.123Z", "publish_time": "2026-11-25T12:00:00.123Z",
		},
		"subscription":    sub,
		"deliveryAttempt": deliveryAttempt,
	})
	require.NoError(t, err)
	return b
}

func TestPushHandler(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{running: 4})
	w := e.newWorker(t, func(c *worker.Config) { c.StepPolls = 1 })
	srv := httptest.NewServer(w.PushHandler(context.Background()))
	t.Cleanup(srv.Close)
	post := func(body []byte) (int, map[string]any) {
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	const sub = "projects/p/subscriptions/aiprod-worker-alpha"

	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		code, body := post(pushBody(t, sub, data, msg.Attributes(), i))
		require.Equal(t, http.StatusServiceUnavailable, code, "delivery %d is nacked", i)
		require.Equal(t, "in_progress", body["error"].(map[string]any)["code"])
	}
	code, _ := post(pushBody(t, sub, data, msg.Attributes(), 5))
	require.Equal(t, http.StatusNoContent, code, "the fifth delivery is acked")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))

	t.Run("undecodable data is dead-lettered and acked", func(t *testing.T) {
		code, _ := post(pushBody(t, sub, []byte("garbage"), map[string]string{"job_id": "x"}, 1))
		require.Equal(t, http.StatusNoContent, code)
		dlq := e.q.Published(queue.DeadLetterTopic(queue.DispatchTopic("alpha")))
		require.Len(t, dlq, 1)
		require.Contains(t, dlq[0].Attributes[queue.AttrReason], "undecodable dispatch message")
		require.Equal(t, []byte("garbage"), dlq[0].Data)
	})
	for name, tt := range map[string]struct {
		method, body string
		code         int
	}{
		"not JSON":           {http.MethodPost, "{", http.StatusBadRequest},
		"unknown sub":        {http.MethodPost, string(pushBody(t, "projects/p/subscriptions/aiprod-router", data, nil, 1)), http.StatusBadRequest},
		"backend not served": {http.MethodPost, string(pushBody(t, "projects/p/subscriptions/aiprod-worker-nosuch", data, nil, 1)), http.StatusBadRequest},
		"GET":                {http.MethodGet, "", http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, bytes.NewReader([]byte(tt.body)))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tt.code, resp.StatusCode)
		})
	}
}

func TestPushHandlerShutdownNacks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].setDefault(script{hold: make(chan struct{})})
	w := e.newWorker(t, func(c *worker.Config) { c.StepBudget = time.Hour })
	shutdown, stop := context.WithCancel(context.Background())
	h := w.PushHandler(shutdown)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	data, err := msg.Encode()
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/push",
			bytes.NewReader(pushBody(t, "projects/p/subscriptions/aiprod-worker-alpha", data, msg.Attributes(), 1))))
	}()
	e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
	stop() // SIGTERM
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the push step did not stop")
	}
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, 1, e.fakes["alpha"].submitCount(j.ID))
}

// slots reads a backend's first n concurrency slots.
func (e *env) slots(t *testing.T, backendName string, n int) []store.Slot {
	t.Helper()
	var out []store.Slot
	require.NoError(t, e.st.RunTx(ctx, func(tx store.Tx) (err error) {
		out, err = tx.GetSlots(backendName, n)
		return err
	}))
	for i := range out {
		out[i] = store.Slot{Backend: out[i].Backend, Index: out[i].Index, Holder: out[i].Holder}
	}
	return out
}

func freeSlots(n int) []store.Slot {
	out := make([]store.Slot, n)
	for i := range out {
		out[i] = store.Slot{Backend: "alpha", Index: i}
	}
	return out
}
