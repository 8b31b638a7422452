package notifier_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/metrics/metricstest"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// publish publishes j's lifecycle event to aiprod-events.
func (e *env) publish(j *job.Job) {
	e.t.Helper()
	_, err := dispatch.PublishLifecycle(context.Background(), e.q, dispatch.LifecycleOf(j))
	require.NoError(e.t, err)
}

// run runs a notifier of e.cfg until the test ends.
func (e *env) run() {
	e.t.Helper()
	n := e.notifier()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		require.NoError(e.t, <-done)
	})
}

// TestSlowReceiverDoesNotDelayOthers: a receiver that never answers holds
// at most MaxPerHost requests, while every webhook to another receiver is
// delivered promptly; the deliveries are counted by outcome.
func TestSlowReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec, read := metricstest.New()
	e.cfg.MaxPerHost, e.cfg.Timeout, e.cfg.Metrics = 2, time.Minute, rec
	release := make(chan struct{})
	var hanging, maxHanging atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hanging.Add(1)
		defer hanging.Add(-1)
		for m := maxHanging.Load(); n > m && !maxHanging.CompareAndSwap(m, n); m = maxHanging.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	fast := newReceiver(t, http.StatusOK)
	t.Cleanup(func() { close(release); slow.Close() })

	for range 6 {
		e.publish(e.terminalJob(job.StatusSucceeded, slow.URL))
	}
	var want []string
	for range 6 {
		j := e.terminalJob(job.StatusSucceeded, fast.srv.URL)
		want = append(want, notifier.WebhookID(j.ID, j.Status))
		e.publish(j)
	}
	e.run()

	require.Eventually(t, func() bool { return fast.calls.Load() == 6 }, 5*time.Second, 5*time.Millisecond,
		"the fast receiver's webhooks are delivered while the slow one hangs")
	var got []string
	for _, d := range fast.deliveries() {
		e.verify(d, e.secret)
		got = append(got, d.header.Get(webhook.HeaderID))
	}
	require.ElementsMatch(t, want, got)
	require.Eventually(t, func() bool { return hanging.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 2, maxHanging.Load(), "at most MaxPerHost requests to one host")
	require.Eventually(t, func() bool {
		v, ok := read.Value(t, metrics.WebhookDeliveries, metrics.LabelOutcome, "delivered")
		return ok && v == 6
	}, 5*time.Second, 5*time.Millisecond, "six deliveries counted")
}

// TestOtherEvents: budget events and ledger entries are acked unread, undecodable events are
// dead-lettered with the reason, jobs without webhook_url send nothing.
func TestOtherEvents(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusOK)
	data, err := json.Marshal(budget.ThresholdEvent{Type: budget.EventTypeThreshold, ProjectID: project, Threshold: 80})
	require.NoError(t, err)
	_, err = e.q.Publish(context.Background(), queue.TopicEvents, queue.Message{Data: data,
		Attributes: map[string]string{budget.AttrEventType: budget.EventTypeThreshold, queue.AttrProjectID: project}})
	require.NoError(t, err)
	_, err = e.q.Publish(context.Background(), queue.TopicEvents, queue.Message{Data: []byte(`{"job_id":`)})
	require.NoError(t, err)
	require.NoError(t, budget.PublishLedger(context.Background(), e.q, []store.LedgerEntry{{ID: "j-1", JobID: "j", Attempt: 1,
		ProjectID: project, Backend: "fal", Status: job.AttemptSucceeded, Cost: 250_000, Final: true, At: time.Now()}}))
	silent := e.terminalJob(job.StatusSucceeded, "")
	e.publish(silent)
	loud := e.terminalJob(job.StatusSucceeded, rcv.srv.URL)
	e.publish(loud)
	e.run()

	require.Eventually(t, func() bool {
		return e.q.Pending(queue.SubscriptionEvents) == 0 && len(e.q.Published(queue.DeadLetterTopic(queue.TopicEvents))) == 1
	}, 5*time.Second, 5*time.Millisecond)
	dl := e.q.Published(queue.DeadLetterTopic(queue.TopicEvents))[0]
	require.Contains(t, dl.Attributes[queue.AttrReason], "undecodable lifecycle event")
	require.EqualValues(t, 1, rcv.calls.Load())
	require.Empty(t, e.events(silent.ID))
}

// TestConcurrentDeliveriesSendOnce: many deliveries of one event at once
// (redeliveries, republished copies) make one attempt: the claim's lease.
func TestConcurrentDeliveriesSendOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusOK)
	j := e.terminalJob(job.StatusSucceeded, rcv.srv.URL)
	n := e.notifier()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { e.handle(n, j, i+1) })
	}
	wg.Wait()
	require.EqualValues(t, 1, rcv.calls.Load())
}
