package deadletter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
)

// impls are the queues the tests run against: memqueue, and gcppubsub over
// the project's Pub/Sub emulator (read with unary Pull). wait is the idle wait of List and Replay.
var impls = []struct {
	name string
	wait time.Duration
	new  func(t *testing.T) queue.Queue
}{
	{"memqueue", 50 * time.Millisecond, func(t *testing.T) queue.Queue {
		q := memqueue.New(memqueue.WithBackoff(0, 0))
		t.Cleanup(func() { _ = q.Close() })
		return q
	}},
	{"gcppubsub", time.Second, func(t *testing.T) queue.Queue {
		srv, err := pubsubemu.Serve("127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		q, err := srv.Queue(context.Background(), "aiprod-test")
		require.NoError(t, err)
		t.Cleanup(func() { _ = q.Close() })
		return q
	}},
}

type bundle struct {
	q    queue.Queue
	ctx  context.Context
	wait time.Duration
}

// setup provisions the topology of backend "alpha" without retry backoff.
func setup(t *testing.T, newQueue func(t *testing.T) queue.Queue, wait time.Duration) *bundle {
	t.Helper()
	q := newQueue(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	subs := queue.Topology([]string{"alpha"})
	for i := range subs {
		subs[i].MinBackoff, subs[i].MaxBackoff = 0, 0
		if subs[i].DeadLetterTopic != "" {
			subs[i].MaxDeliveryAttempts = 5
		}
	}
	require.NoError(t, queue.Provision(ctx, q, subs))
	return &bundle{q: q, ctx: ctx, wait: wait}
}

// refuse receives the next message of sub and dead-letters it with reason,
// as a service does with a message it cannot handle.
func (b *bundle) refuse(t *testing.T, sub, dlqTopic, reason string) {
	t.Helper()
	b.receiveOne(t, sub, func(ctx context.Context, m *queue.Message) {
		require.NoError(t, queue.DeadLetter(ctx, b.q, dlqTopic, sub, m, reason))
		m.Ack()
	})
}

// receiveOne hands the next message of sub to h and returns it.
func (b *bundle) receiveOne(t *testing.T, sub string, h queue.Handler) *queue.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var (
		once sync.Once
		got  *queue.Message
	)
	err := b.q.Receive(ctx, sub, queue.ReceiveOptions{MaxOutstanding: 1}, func(ctx context.Context, m *queue.Message) {
		done := false
		once.Do(func() {
			got = m
			h(ctx, m)
			done = true
			cancel()
		})
		if !done {
			m.Nack()
		}
	})
	require.NoError(t, err)
	require.NotNil(t, got, "no message on %s", sub)
	return got
}

func (b *bundle) publish(t *testing.T, topic, data string, attrs map[string]string) string {
	t.Helper()
	id, err := b.q.Publish(b.ctx, topic, queue.Message{Data: []byte(data), Attributes: attrs})
	require.NoError(t, err)
	return id
}

func TestListAndReplay(t *testing.T) {
	t.Parallel()
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, impl.new, impl.wait)
			jobsDLQ := queue.DeadLetterTopic(queue.TopicJobs)

			// A poison job request and a poison dispatch, refused by the
			// router and the worker.
			traceparent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			b.publish(t, queue.TopicJobs, "not json", map[string]string{
				queue.AttrProjectID: "dev", queue.AttrTraceParent: traceparent,
			})
			b.refuse(t, queue.SubscriptionRouter, jobsDLQ, "invalid job request: malformed JSON")
			b.publish(t, queue.DispatchTopic("alpha"), "{}", map[string]string{queue.AttrJobID: "j1"})
			b.refuse(t, queue.WorkerSubscription("alpha"), queue.DeadLetterTopic(queue.DispatchTopic("alpha")),
				"undecodable dispatch message")

			// Listing shows the poison message with its reason and origin.
			ls, err := deadletter.List(b.ctx, b.q, jobsDLQ, 10, b.wait)
			require.NoError(t, err)
			require.Len(t, ls, 1)
			l := ls[0]
			require.NotEmpty(t, l.ID)
			require.Equal(t, jobsDLQ, l.Subscription)
			require.Equal(t, "not json", string(l.Data))
			require.Equal(t, "invalid job request: malformed JSON", l.Reason)
			require.Equal(t, queue.SubscriptionRouter, l.SourceSubscription)
			require.Equal(t, queue.TopicJobs, l.Topic)
			require.Equal(t, "dev", l.Attributes[queue.AttrProjectID])
			require.False(t, l.PublishTime.IsZero())

			// Listing does not consume: a second listing sees it again.
			again, err := deadletter.List(b.ctx, b.q, jobsDLQ, 10, b.wait)
			require.NoError(t, err)
			require.Len(t, again, 1)
			require.Equal(t, l.ID, again[0].ID)

			// An unknown id replays nothing.
			res, err := deadletter.Replay(b.ctx, b.q, jobsDLQ, []string{"no-such-id"}, 10, b.wait)
			require.NoError(t, err)
			require.Empty(t, res.Replayed)
			require.Equal(t, []string{"no-such-id"}, res.NotFound)

			// Replay by id republishes to aiprod-jobs without the
			// dead-letter attributes, and acks the dead letter.
			res, err = deadletter.Replay(b.ctx, b.q, jobsDLQ, []string{l.ID}, 10, b.wait)
			require.NoError(t, err)
			require.Empty(t, res.NotFound)
			require.Len(t, res.Replayed, 1)
			require.Equal(t, queue.TopicJobs, res.Replayed[0].Topic)
			m := b.receiveOne(t, queue.SubscriptionRouter, func(_ context.Context, m *queue.Message) { m.Ack() })
			require.Equal(t, "not json", string(m.Data))
			require.Equal(t, map[string]string{queue.AttrProjectID: "dev", queue.AttrTraceParent: traceparent}, m.Attributes)

			b.listN(t, jobsDLQ, 0) // the DLQ is empty after the replay

			// The dispatch DLQ was untouched; replaying all of it sends the
			// dispatch back to its backend's topic.
			dispatchDLQ := queue.DeadLetterTopic(queue.DispatchTopic("alpha"))
			res, err = deadletter.Replay(b.ctx, b.q, dispatchDLQ, nil, 10, b.wait)
			require.NoError(t, err)
			require.Len(t, res.Replayed, 1)
			require.Equal(t, queue.DispatchTopic("alpha"), res.Replayed[0].Topic)
			m = b.receiveOne(t, queue.WorkerSubscription("alpha"), func(_ context.Context, m *queue.Message) { m.Ack() })
			require.Equal(t, map[string]string{queue.AttrJobID: "j1"}, m.Attributes)
			b.listN(t, dispatchDLQ, 0)
		})
	}
}

func TestListIsBoundedByMaxAndSeesEachMessageOnce(t *testing.T) {
	t.Parallel()
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, impl.new, impl.wait)
			dlq := queue.DeadLetterTopic(queue.TopicEvents)
			for i := range 5 {
				b.publish(t, dlq, "event", map[string]string{"n": string(rune('a' + i)), queue.AttrReason: "r"})
			}
			ls, err := deadletter.List(b.ctx, b.q, dlq, 3, b.wait)
			require.NoError(t, err)
			require.Len(t, ls, 3)

			ls = b.listN(t, dlq, 5)
			ids := map[string]bool{}
			for _, l := range ls {
				ids[l.ID] = true
				require.Equal(t, queue.TopicEvents, l.Topic, "derived from the dead-letter subscription's name")
			}
			require.Len(t, ids, 5, "each message once, none consumed")

			// Replay of all is bounded by max too.
			res, err := deadletter.Replay(b.ctx, b.q, dlq, nil, 2, b.wait)
			require.NoError(t, err)
			require.Len(t, res.Replayed, 2)
			b.listN(t, dlq, 3)
		})
	}
}

// listN lists dlq and checks that it holds n messages.
func (b *bundle) listN(t *testing.T, dlq string, n int) []deadletter.Letter {
	t.Helper()
	ls, err := deadletter.List(b.ctx, b.q, dlq, 100, b.wait)
	require.NoError(t, err)
	require.Len(t, ls, n)
	return ls
}

// TestExhaustedDelivery: a message the queue dead-lettered itself after
// the max delivery attempts has no reason attribute; its reason says so.
func TestExhaustedDelivery(t *testing.T) {
	t.Parallel()
	// memqueue only: over Pub/Sub, the stream of each receiveOne, shutting
	// down, may be sent the nacked message again and hold it for its 10 s
	// ack deadline.
	b := setup(t, impls[0].new, impls[0].wait)
	b.publish(t, queue.TopicJobs, `{"prompt":"x"}`, map[string]string{queue.AttrProjectID: "dev"})
	for range 5 {
		b.receiveOne(t, queue.SubscriptionRouter, func(_ context.Context, m *queue.Message) { m.Nack() })
	}
	ls, err := deadletter.List(b.ctx, b.q, queue.DeadLetterTopic(queue.TopicJobs), 10, b.wait)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	require.Equal(t, deadletter.ReasonExhausted, ls[0].Reason)
	require.Equal(t, queue.TopicJobs, ls[0].Topic)
}

func TestOriginTopicAndAttributes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		dlq  string
		want string
	}{
		{"aiprod-jobs-dlq", "aiprod-jobs"},
		{"aiprod-dispatch-veo-dlq", "aiprod-dispatch-veo"},
		{"aiprod-events-dlq", "aiprod-events"},
		{"projects/p/subscriptions/aiprod-events-dlq", "aiprod-events"},
	} {
		require.Equal(t, tt.want, deadletter.OriginTopic(tt.dlq), tt.dlq)
	}
	got := deadletter.ReplayAttributes(map[string]string{
		queue.AttrJobID: "j", queue.AttrReason: "r", queue.AttrSourceSub: "s",
		deadletter.PubSubAttrSourceDeliveryCount: "10", "CloudPubSubDeadLetterSourceTopicPublishTime": "t",
		queue.AttrTraceParent: "tp",
	})
	require.Equal(t, map[string]string{queue.AttrJobID: "j", queue.AttrTraceParent: "tp"}, got)
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	b := setup(t, impls[0].new, impls[0].wait)
	_, err := deadletter.List(b.ctx, b.q, queue.SubscriptionRouter, 10, b.wait)
	require.ErrorIs(t, err, errclass.Permanent, "a live subscription is refused")
	_, err = deadletter.List(b.ctx, b.q, "aiprod-jobs-dlq", 0, b.wait)
	require.ErrorIs(t, err, errclass.Permanent)
	_, err = deadletter.List(b.ctx, b.q, "aiprod-jobs-dlq", deadletter.MaxLimit+1, b.wait)
	require.ErrorIs(t, err, errclass.Permanent)
	_, err = deadletter.List(b.ctx, b.q, "aiprod-nothing-dlq", 10, b.wait)
	require.ErrorIs(t, err, errclass.NotFound)
	_, err = deadletter.Replay(b.ctx, b.q, "aiprod-jobs-dlq", []string{""}, 10, b.wait)
	require.ErrorIs(t, err, errclass.Permanent)
}

func TestService(t *testing.T) {
	t.Parallel()
	b := setup(t, impls[0].new, impls[0].wait)
	svc := deadletter.NewService(b.q, []string{"alpha"}, b.wait)
	require.Equal(t, []string{"aiprod-jobs-dlq", "aiprod-events-dlq", "aiprod-dlq-replay-dlq", "aiprod-dispatch-alpha-dlq"}, svc.Subscriptions())

	b.publish(t, "aiprod-jobs-dlq", "a", map[string]string{queue.AttrReason: "r1"})
	b.publish(t, "aiprod-dispatch-alpha-dlq", "b", map[string]string{queue.AttrReason: "r2"})
	all, err := svc.List(b.ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "aiprod-jobs-dlq", all[0].Subscription)
	require.Equal(t, "aiprod-dispatch-alpha-dlq", all[1].Subscription)
	one, err := svc.List(b.ctx, "", 1)
	require.NoError(t, err)
	require.Len(t, one, 1)

	_, err = svc.List(b.ctx, "aiprod-router", 10)
	require.ErrorIs(t, err, errclass.NotFound)
	_, err = svc.Replay(b.ctx, "aiprod-dispatch-beta-dlq", nil, 10)
	require.ErrorIs(t, err, errclass.NotFound)

	res, err := svc.Replay(b.ctx, "aiprod-dispatch-alpha-dlq", nil, 10)
	require.NoError(t, err)
	require.Len(t, res.Replayed, 1)
}

// TestReplayOfAPoisonMessageEnds: a consumer that dead-letters the replayed
// message again at once does not make one Replay replay it again and again.
func TestReplayOfAPoisonMessageEnds(t *testing.T) {
	t.Parallel()
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, impl.new, impl.wait)
			dlq := queue.DeadLetterTopic(queue.TopicJobs)
			first := b.publish(t, dlq, "poison", map[string]string{queue.AttrReason: "bad", queue.AttrSourceSub: queue.SubscriptionRouter})

			// A router that refuses everything, at once.
			ctx, cancel := context.WithCancel(b.ctx)
			done := make(chan error, 1)
			go func() {
				done <- b.q.Receive(ctx, queue.SubscriptionRouter, queue.ReceiveOptions{}, func(ctx context.Context, m *queue.Message) {
					if err := queue.DeadLetter(ctx, b.q, dlq, queue.SubscriptionRouter, m, "still bad"); err != nil {
						m.Nack()
						return
					}
					m.Ack()
				})
			}()
			t.Cleanup(func() { cancel(); <-done })

			res, err := deadletter.Replay(b.ctx, b.q, dlq, nil, 50, b.wait)
			require.NoError(t, err)
			require.Len(t, res.Replayed, 1, "replayed once")
			require.Equal(t, first, res.Replayed[0].ID)

			// It comes back, refused again, as a new message.
			deadline := time.Now().Add(10 * time.Second)
			for {
				ls, err := deadletter.List(b.ctx, b.q, dlq, 10, b.wait)
				require.NoError(t, err)
				if len(ls) == 1 {
					require.NotEqual(t, first, ls[0].ID)
					require.Equal(t, "still bad", ls[0].Reason)
					break
				}
				require.Empty(t, ls)
				require.True(t, time.Now().Before(deadline), "the refused message did not come back")
			}
		})
	}
}
