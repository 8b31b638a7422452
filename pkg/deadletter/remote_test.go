package deadletter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// replayEnv is ingest's Remote and the router's Replayer over one memqueue
// and memstore, as in production over Pub/Sub and Firestore.
type replayEnv struct {
	*bundle
	q      *memqueue.Queue
	st     *memstore.Store
	remote *deadletter.Remote
	ids    atomic.Int32
}

func setupReplay(t *testing.T, timeout time.Duration) *replayEnv {
	t.Helper()
	q := memqueue.New(memqueue.WithBackoff(0, 0))
	t.Cleanup(func() { _ = q.Close() })
	b := setup(t, func(*testing.T) queue.Queue { return q }, 50*time.Millisecond)
	e := &replayEnv{bundle: b, q: q, st: memstore.New()}
	remote, err := deadletter.NewRemote(deadletter.RemoteConfig{Queue: q, Results: e.st, Backends: []string{"alpha"},
		Wait: b.wait, ReplayTimeout: timeout, PollInterval: 5 * time.Millisecond,
		NewID: func() string { return fmt.Sprintf("req-%c", 'a'+e.ids.Add(1)-1) }})
	require.NoError(t, err)
	e.remote = remote
	return e
}

func (e *replayEnv) replayer(t *testing.T, q interface {
	deadletter.Queue
	queue.Subscriber
}) *deadletter.Replayer {
	t.Helper()
	r, err := deadletter.NewReplayer(deadletter.ReplayerConfig{Queue: q, Results: e.st, Backends: []string{"alpha"}, Wait: e.wait,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return r
}

// runReplayer runs r until the test ends.
func runReplayer(t *testing.T, r *deadletter.Replayer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// TestRemoteReplayIsCarriedOutByTheReplayer: ingest's Remote publishes
// only a request to aiprod-dlq-replay; the router's Replayer pulls the
// dead letter, republishes it unchanged to its dispatch topic and acks it;
// the Remote answers with exactly what was replayed and not found.
func TestRemoteReplayIsCarriedOutByTheReplayer(t *testing.T) {
	t.Parallel()
	e := setupReplay(t, 10*time.Second)
	runReplayer(t, e.replayer(t, e.q))
	e.publish(t, queue.DispatchTopic("alpha"), `{"job_id":"j1"}`, map[string]string{"job_id": "j1"})
	e.refuse(t, queue.WorkerSubscription("alpha"), "aiprod-dispatch-alpha-dlq", "undecodable")
	letters, err := e.remote.List(e.ctx, "aiprod-dispatch-alpha-dlq", 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)

	res, err := e.remote.Replay(e.ctx, "aiprod-dispatch-alpha-dlq", []string{letters[0].ID, "gone"}, 10)
	require.NoError(t, err)
	require.Equal(t, "req-a", res.RequestID)
	require.False(t, res.Pending)
	require.Len(t, res.Replayed, 1)
	require.Equal(t, letters[0].ID, res.Replayed[0].ID)
	require.Equal(t, queue.DispatchTopic("alpha"), res.Replayed[0].Topic)
	require.Equal(t, []string{"gone"}, res.NotFound)

	reqs := e.q.Published(queue.TopicDLQReplay)
	require.Len(t, reqs, 1, "the Remote publishes one request")
	req, err := deadletter.DecodeReplayRequest(reqs[0].Data)
	require.NoError(t, err)
	require.Equal(t, deadletter.ReplayRequest{ID: "req-a", Subscription: "aiprod-dispatch-alpha-dlq",
		IDs: []string{letters[0].ID, "gone"}, Max: 10}, req)
	dispatches := e.q.Published(queue.DispatchTopic("alpha"))
	require.Len(t, dispatches, 2, "the original and the replay")
	require.Equal(t, `{"job_id":"j1"}`, string(dispatches[1].Data))
	require.Equal(t, map[string]string{"job_id": "j1"}, dispatches[1].Attributes)
	require.Equal(t, 0, e.q.Pending("aiprod-dispatch-alpha-dlq"), "the dead letter is gone")

	res, err = e.remote.Replay(e.ctx, "aiprod-dispatch-alpha-dlq", []string{letters[0].ID}, 10)
	require.NoError(t, err)
	require.Empty(t, res.Replayed)
	require.Equal(t, []string{letters[0].ID}, res.NotFound, "replayed already")
}

// TestRemoteReplayPending: with no router to carry it out, Replay answers
// Pending with the request id once ReplayTimeout passed, having replayed
// nothing; the request stays queued and a router that starts later carries
// it out.
func TestRemoteReplayPending(t *testing.T) {
	t.Parallel()
	e := setupReplay(t, 50*time.Millisecond)
	e.publish(t, "aiprod-jobs-dlq", `{"prompt":42}`, nil)

	res, err := e.remote.Replay(e.ctx, "aiprod-jobs-dlq", nil, 10)
	require.NoError(t, err)
	require.Equal(t, deadletter.ReplayResult{RequestID: "req-a", Pending: true}, res)
	require.Empty(t, e.q.Published(queue.TopicJobs), "nothing replayed yet")
	require.Equal(t, 1, e.q.Pending(queue.SubscriptionDLQReplay), "the request is queued")

	runReplayer(t, e.replayer(t, e.q))
	require.Eventually(t, func() bool {
		_, err := e.st.GetDLQReplay(e.ctx, "req-a")
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the queued request is carried out")
	out, err := e.st.GetDLQReplay(e.ctx, "req-a")
	require.NoError(t, err)
	require.Len(t, out.Replayed, 1)
	require.Len(t, e.q.Published(queue.TopicJobs), 1)
	require.Equal(t, queue.TopicJobs, out.Replayed[0].Topic)
}

// TestReplayerCarriesOutARequestOnce: a redelivered request whose outcome
// is recorded is acked without replaying again, even though new dead
// letters arrived meanwhile; an undecodable request is dead-lettered.
func TestReplayerCarriesOutARequestOnce(t *testing.T) {
	t.Parallel()
	e := setupReplay(t, time.Second)
	r := e.replayer(t, e.q)
	e.publish(t, "aiprod-jobs-dlq", `{"n":1}`, nil)
	data, err := deadletter.ReplayRequest{ID: "r1", Subscription: "aiprod-jobs-dlq", Max: 10}.Encode()
	require.NoError(t, err)
	m := queue.Message{ID: "m1", Data: data}

	require.Equal(t, consumer.VerdictAck, r.Handle(e.ctx, &m).Verdict)
	require.Len(t, e.q.Published(queue.TopicJobs), 1)
	e.publish(t, "aiprod-jobs-dlq", `{"n":2}`, nil)
	require.Equal(t, consumer.VerdictAck, r.Handle(e.ctx, &m).Verdict, "the redelivery")
	require.Len(t, e.q.Published(queue.TopicJobs), 1, "not replayed again")
	require.Equal(t, 1, e.q.Pending("aiprod-jobs-dlq"), "the new dead letter stays")

	for _, bad := range []string{`garbage`, `{"id":"r2","subscription":"aiprod-jobs-dlq","max":10,"topic":"aiprod-dispatch-alpha"}`,
		`{"id":"r/3","subscription":"aiprod-jobs-dlq","max":10}`, `{"id":"r4","subscription":"aiprod-jobs-dlq","max":0}`} {
		o := r.Handle(e.ctx, &queue.Message{ID: "bad", Data: []byte(bad)})
		require.Equal(t, consumer.VerdictDeadLetter, o.Verdict, bad)
	}
	require.Len(t, e.q.Published(queue.DeadLetterTopic(queue.TopicDLQReplay)), 4)
	require.Len(t, e.q.Published(queue.TopicJobs), 1)
}

// TestRemoteReplayReportsTheRouterFailure: a replay that fails at the
// router (here a publish) comes back to the Remote as a retryable error
// with what was replayed before; an unknown subscription is NotFound and
// sends no request.
func TestRemoteReplayReportsTheRouterFailure(t *testing.T) {
	t.Parallel()
	e := setupReplay(t, 10*time.Second)
	runReplayer(t, e.replayer(t, failingPublish{Queue: e.q, topic: queue.TopicJobs}))
	e.publish(t, "aiprod-jobs-dlq", `{"n":1}`, nil)

	res, err := e.remote.Replay(e.ctx, "aiprod-jobs-dlq", nil, 10)
	require.ErrorIs(t, err, errclass.Retryable)
	require.ErrorContains(t, err, "publish refused")
	require.Empty(t, res.Replayed)
	require.Equal(t, 1, e.q.Pending("aiprod-jobs-dlq"), "the letter stays")

	_, err = e.remote.Replay(e.ctx, "aiprod-router", nil, 10)
	require.ErrorIs(t, err, errclass.NotFound)
	require.Len(t, e.q.Published(queue.TopicDLQReplay), 1)
}

// failingPublish refuses publishes to topic.
type failingPublish struct {
	*memqueue.Queue
	topic string
}

func (f failingPublish) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	if topic == f.topic {
		return "", errclass.New(errclass.Retryable, "publish refused")
	}
	return f.Queue.Publish(ctx, topic, m)
}

// FuzzReplayRequest: no data panics DecodeReplayRequest, and what it
// accepts is valid and encodes back to a request that decodes the same.
func FuzzReplayRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","subscription":"aiprod-jobs-dlq","max":1}`, `{"id":"a","subscription":"s","ids":["x",""],"max":1}`,
		`{"id":"a","subscription":"s","max":1001}`, `{"id":"a","subscription":"s","max":1} {}`, `{"id":"` + string(make([]byte, 65)) + `"}`,
		`{"id":"a","subscription":"s","max":1,"extra":1}`, `null`, ``, `{"ids":null,"id":"a-b","subscription":"s","max":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := deadletter.DecodeReplayRequest(data)
		if err != nil {
			return
		}
		require.NoError(t, r.Validate())
		again, err := r.Encode()
		require.NoError(t, err)
		r2, err := deadletter.DecodeReplayRequest(again)
		require.NoError(t, err)
		require.Equal(t, r, r2)
	})
}
