package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aiprod/aiprod/pkg/consumer"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

const (
	topic = "aiprod-test-work"
	sub   = "aiprod-test-consumer"
)

var dlq = queue.DeadLetterTopic(topic)

// provision creates the topic, its dead-letter topic and both
// subscriptions, as queue.Topology does for the real ones.
func provision(t *testing.T, q queue.Queue) {
	t.Helper()
	require.NoError(t, queue.Provision(context.Background(), q, []queue.SubscriptionConfig{
		{Name: sub, Topic: topic, AckDeadline: 10 * time.Second, DeadLetterTopic: dlq,
			MaxDeliveryAttempts: 20, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		{Name: dlq, Topic: dlq, AckDeadline: 10 * time.Second},
	}))
}

func queues(t *testing.T) map[string]func(t *testing.T) queue.Queue {
	return map[string]func(t *testing.T) queue.Queue{
		"memqueue": func(t *testing.T) queue.Queue {
			q := memqueue.New(memqueue.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
			t.Cleanup(func() { _ = q.Close() })
			return q
		},
		"emulator": func(t *testing.T) queue.Queue {
			srv, err := pubsubemu.Serve("127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			q, err := gcppubsub.New(context.Background(), "aiprod-test", option.WithEndpoint(srv.Addr),
				option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
			require.NoError(t, err)
			t.Cleanup(func() { _ = q.Close() })
			return q
		},
	}
}

// TestPanickingHandlerDeadLettersThePoisonAndServesTheRest is issue 10's
// "must show": a handler that panics on one message keeps the process
// serving the others, and the poison message ends on the dead-letter topic
// with reason "panic".
func TestPanickingHandlerDeadLettersThePoisonAndServesTheRest(t *testing.T) {
	t.Parallel()
	for name, newQueue := range queues(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(t)
			provision(t, q)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			const n = 10
			var (
				mu      sync.Mutex
				handled = map[string]int{}
				panics  int
			)
			c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q},
				func(ctx context.Context, m *queue.Message) consumer.Outcome {
					mu.Lock()
					defer mu.Unlock()
					if m.Attr("poison") == "true" {
						panics++
						var empty []int
						_ = empty[len(m.Data)] // a real runtime panic: index out of range
					}
					handled[m.Attr("n")]++
					return consumer.Ack()
				})
			require.NoError(t, err)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(runCtx, q) }()

			_, err = q.Publish(ctx, topic, queue.Message{Data: []byte("poison"), Attributes: map[string]string{"poison": "true", "n": "poison"}})
			require.NoError(t, err)
			for i := range n {
				_, err := q.Publish(ctx, topic, queue.Message{Data: []byte("ok"), Attributes: map[string]string{"n": strconv.Itoa(i)}})
				require.NoError(t, err)
			}

			letter := receiveOne(t, ctx, q, dlq)
			assert.Equal(t, consumer.ReasonPanic, letter.Attr(queue.AttrReason))
			assert.Equal(t, sub, letter.Attr(queue.AttrSourceSub))
			assert.Contains(t, letter.Attr(consumer.AttrPanic), "index out of range")
			assert.Equal(t, "poison", string(letter.Data))

			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(handled) == n
			}, 30*time.Second, 10*time.Millisecond, "the other messages are served")
			stop()
			require.NoError(t, <-done, "Run returns nil on shutdown: the panics did not end it")
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, consumer.MaxPanicsDefault, panics, "nacked until MaxPanics, then dead-lettered")
			assert.NotContains(t, handled, "poison")
		})
	}
}

// receiveOne returns the first message of subscription s.
func receiveOne(t *testing.T, ctx context.Context, q queue.Subscriber, s string) *queue.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := make(chan *queue.Message, 1)
	err := q.Receive(ctx, s, queue.ReceiveOptions{MaxOutstanding: 1}, func(_ context.Context, m *queue.Message) {
		m.Ack()
		select {
		case got <- m:
			cancel()
		default:
		}
	})
	require.NoError(t, err)
	select {
	case m := <-got:
		return m
	default:
		t.Fatalf("nothing arrived on %s", s)
		return nil
	}
}

func TestOutcomesAreApplied(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = q.Close() })
	provision(t, q)
	ctx := context.Background()

	cases := []struct {
		name  string
		out   consumer.Outcome
		acked bool
		want  consumer.Verdict
	}{
		{"ack", consumer.Ack(), true, consumer.VerdictAck},
		{"nack", consumer.Nack(errors.New("store down")), false, consumer.VerdictNack},
		{"wait", consumer.Wait(errors.New("slot busy")), false, consumer.VerdictNack},
		{"later", consumer.Later("step budget spent"), false, consumer.VerdictNack},
		{"nack after", consumer.NackAfter(5*time.Millisecond, errors.New("x")), false, consumer.VerdictNack},
		{"dead letter", consumer.DeadLetter("bad %s", "payload"), true, consumer.VerdictDeadLetter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q},
				func(context.Context, *queue.Message) consumer.Outcome { return tc.out })
			require.NoError(t, err)
			var acked, nacked bool
			m := queue.NewReceived(queue.Message{ID: "m-" + tc.name}, func() { acked = true }, func() { nacked = true })
			got := c.Handle(ctx, m)
			assert.Equal(t, tc.want, got.Verdict)
			assert.Equal(t, tc.acked, acked)
			assert.Equal(t, !tc.acked, nacked)
			assert.Equal(t, tc.acked, got.Acked())
		})
	}
	letters := q.Published(dlq)
	require.Len(t, letters, 1)
	assert.Equal(t, "bad payload", letters[0].Attr(queue.AttrReason))
}

func TestFailedDeadLetterPublishNacks(t *testing.T) {
	t.Parallel()
	q := memqueue.New() // no dead-letter topic provisioned: the publish fails
	t.Cleanup(func() { _ = q.Close() })
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: "aiprod-missing-dlq", Publisher: q},
		func(context.Context, *queue.Message) consumer.Outcome { return consumer.DeadLetter("bad") })
	require.NoError(t, err)
	var nacked bool
	got := c.Handle(context.Background(), queue.NewReceived(queue.Message{ID: "1"}, func() {}, func() { nacked = true }))
	assert.Equal(t, consumer.VerdictNack, got.Verdict)
	assert.True(t, nacked, "a dead letter that could not be published is not lost")
}

func TestPanicsAreCountedPerMessage(t *testing.T) {
	t.Parallel()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	provision(t, q)
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q, MaxPanics: 2},
		func(context.Context, *queue.Message) consumer.Outcome { panic("always") })
	require.NoError(t, err)
	ctx := context.Background()
	msg := func(id string) *queue.Message { return queue.NewReceived(queue.Message{ID: id}, func() {}, func() {}) }
	assert.Equal(t, consumer.VerdictNack, c.Handle(ctx, msg("a")).Verdict)
	assert.Equal(t, consumer.VerdictNack, c.Handle(ctx, msg("b")).Verdict, "another message's panics do not count")
	got := c.Handle(ctx, msg("a"))
	assert.Equal(t, consumer.VerdictDeadLetter, got.Verdict)
	assert.Equal(t, consumer.ReasonPanic, got.Reason)
	require.Len(t, q.Published(dlq), 1)
	assert.Equal(t, "always", q.Published(dlq)[0].Attr(consumer.AttrPanic))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	h := func(context.Context, *queue.Message) consumer.Outcome { return consumer.Ack() }
	q := memqueue.New()
	for _, tc := range []struct {
		cfg  consumer.Config
		want string
	}{
		{consumer.Config{DeadLetterTopic: dlq, Publisher: q}, "Subscription"},
		{consumer.Config{Subscription: sub, Publisher: q}, "DeadLetterTopic"},
		{consumer.Config{Subscription: sub, DeadLetterTopic: dlq}, "Publisher"},
	} {
		_, err := consumer.New(tc.cfg, h)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q}, nil)
	assert.Error(t, err)
}

// recordSpans installs a tracer provider that records ended spans until
// the test ends (tests using it are not parallel), and returns it with a
// fresh queue.
func recordSpans(t *testing.T) (*tracetest.SpanRecorder, *memqueue.Queue) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(tracenoop.NewTracerProvider()) })
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	return rec, q
}

// The consumer span follows the OpenTelemetry messaging conventions: the
// destination is the topic, the subscription, message id and delivery
// attempt have their own attributes, and the outcome is recorded.
func TestConsumerSpanFollowsMessagingConventions(t *testing.T) {
	rec, q := recordSpans(t)
	c, err := consumer.New(consumer.Config{Subscription: sub, Topic: topic, DeadLetterTopic: dlq, Publisher: q},
		func(context.Context, *queue.Message) consumer.Outcome { return consumer.Ack() })
	require.NoError(t, err)
	m := queue.NewReceived(queue.Message{ID: "m-1", DeliveryAttempt: 2,
		Attributes: map[string]string{queue.AttrJobID: "j-1", queue.AttrProjectID: "p"}}, func() {}, func() {})
	c.Handle(context.Background(), m)
	spans := rec.Ended()
	require.Len(t, spans, 1)
	got := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	assert.Equal(t, trace.SpanKindConsumer, spans[0].SpanKind())
	assert.Equal(t, topic, got["messaging.destination.name"])
	assert.Equal(t, sub, got["messaging.destination.subscription.name"])
	assert.Equal(t, "m-1", got["messaging.message.id"])
	assert.Equal(t, "2", got["messaging.gcp_pubsub.message.delivery_attempt"])
	assert.Equal(t, "j-1", got["aiprod.job_id"])
	assert.Equal(t, "ack", got["aiprod.outcome"])
}

func TestDeadLettersAreAnnouncedOnTheEventsTopic(t *testing.T) {
	t.Parallel()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	provision(t, q)
	require.NoError(t, queue.Provision(context.Background(), q, []queue.SubscriptionConfig{{Name: "watch-events", Topic: queue.TopicEvents, AckDeadline: 10 * time.Second}}))
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q, AnnounceDeadLetters: true},
		func(context.Context, *queue.Message) consumer.Outcome {
			return consumer.DeadLetter("undecodable: %s", "bad json")
		})
	require.NoError(t, err)
	handle := func(attrs map[string]string) {
		got := c.Handle(context.Background(), queue.NewReceived(queue.Message{ID: "m1", Attributes: attrs}, func() {}, func() {}))
		require.Equal(t, consumer.VerdictDeadLetter, got.Verdict)
	}
	handle(map[string]string{queue.AttrJobID: "j1", queue.AttrProjectID: "acme"})
	handle(map[string]string{queue.AttrProjectID: "Not A Project!"})
	handle(map[string]string{queue.AttrEventType: consumer.EventTypeDeadLetter}) // an announcement itself: not announced again

	evs := q.Published(queue.TopicEvents)
	require.Len(t, evs, 2)
	assert.Equal(t, consumer.EventTypeDeadLetter, evs[0].Attr(queue.AttrEventType))
	assert.Equal(t, "acme", evs[0].Attr(queue.AttrProjectID))
	var ev consumer.DeadLetterEvent
	require.NoError(t, json.Unmarshal(evs[0].Data, &ev))
	assert.Equal(t, consumer.DeadLetterEvent{Type: "dlq_message", Subscription: sub, DeadLetterTopic: dlq,
		Reason: "undecodable: bad json", MessageID: "m1", JobID: "j1", ProjectID: "acme", At: ev.At}, ev)
	assert.False(t, ev.At.IsZero())
	assert.Empty(t, evs[1].Attr(queue.AttrProjectID), "a malformed project id is not passed on")
	assert.Len(t, q.Published(dlq), 3, "every message is dead-lettered")
}

// The consumer span's attributes, in order: the messaging conventions, the
// message's ids, the delivery attempt, the topic, then what the outcome
// adds (a dead letter's reason) and the outcome.
func TestConsumerSpanAttributesInOrder(t *testing.T) {
	rec, q := recordSpans(t)
	provision(t, q)
	verdict := consumer.Ack()
	c, err := consumer.New(consumer.Config{Subscription: sub, Topic: topic, DeadLetterTopic: dlq, Publisher: q},
		func(context.Context, *queue.Message) consumer.Outcome { return verdict })
	require.NoError(t, err)
	msg := func() *queue.Message {
		return queue.NewReceived(queue.Message{ID: "m-1", DeliveryAttempt: 3, Attributes: map[string]string{
			queue.AttrJobID: "j-1", queue.AttrProjectID: "p", queue.AttrBackend: "luma"}}, func() {}, func() {})
	}
	c.Handle(context.Background(), msg())
	verdict = consumer.DeadLetter("bad %s", "payload")
	c.Handle(context.Background(), msg())

	spans := rec.Ended()
	require.Len(t, spans, 3, "two consumer spans and the dead letter's producer span")
	common := []attribute.KeyValue{
		telemetry.AttrMessagingSystem.String("gcp_pubsub"), telemetry.AttrMessagingSubscription.String(sub),
		telemetry.AttrMessagingOperation.String("process"), telemetry.AttrMessageID.String("m-1"),
		telemetry.AttrJobID.String("j-1"), telemetry.AttrProjectID.String("p"), telemetry.AttrBackend.String("luma"),
		telemetry.AttrDeliveryAttempt.Int(3), telemetry.AttrMessagingDestination.String(topic),
	}
	assert.Equal(t, append(slices.Clone(common), attribute.String("aiprod.outcome", "ack")), spans[0].Attributes())
	dead := spans[2]
	assert.Equal(t, "process "+sub, dead.Name())
	assert.Equal(t, append(slices.Clone(common), attribute.String("aiprod.dead_letter_reason", "bad payload"),
		attribute.String("aiprod.outcome", "dead_letter")), dead.Attributes())
	assert.Equal(t, codes.Error, dead.Status().Code)
}

// A handler that returns Resume goes on later: the consumer waits the
// delay, then runs the continuation with the message's logger, again and
// again, and applies the first decision, once.
func TestResumeContinuesAfterItsDelayUntilADecision(t *testing.T) {
	t.Parallel()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	var logs bytes.Buffer // slog's handler serialises its writes
	const delay = 20 * time.Millisecond
	var steps atomic.Int32
	var step func(ctx context.Context) consumer.Outcome
	step = func(ctx context.Context) consumer.Outcome {
		consumer.Logger(ctx).InfoContext(ctx, "step")
		if steps.Add(1) < 3 {
			return consumer.Resume(delay, step)
		}
		return consumer.Ack()
	}
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q, Logger: slog.New(slog.NewJSONHandler(&logs, nil))},
		func(context.Context, *queue.Message) consumer.Outcome { return consumer.Resume(delay, step) })
	require.NoError(t, err)
	var acks, nacks atomic.Int32
	start := time.Now()
	got := c.Handle(context.Background(), queue.NewReceived(queue.Message{ID: "m-1"}, func() { acks.Add(1) }, func() { nacks.Add(1) }))
	assert.GreaterOrEqual(t, time.Since(start), 3*delay, "each continuation waited its delay")
	assert.Equal(t, consumer.VerdictAck, got.Verdict)
	assert.False(t, got.Resumes())
	assert.Equal(t, int32(3), steps.Load())
	assert.Equal(t, int32(1), acks.Load())
	assert.Zero(t, nacks.Load())
	var ids []string
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg       string `json:"msg"`
			MessageID string `json:"message_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Msg == "step" {
			ids = append(ids, rec.MessageID)
		}
	}
	assert.Equal(t, []string{"m-1", "m-1", "m-1"}, ids, "continuations log with the message's fields")
}

// The end of the consumer's context cuts a continuation's wait short, or
// skips it: the continuation runs at once, sees ctx done, and its outcome
// is applied.
func TestResumeWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	for name, cancelAfter := range map[string]time.Duration{"during the wait": 20 * time.Millisecond, "before it": 0} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := memqueue.New()
			t.Cleanup(func() { _ = q.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ran atomic.Bool
			c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q},
				func(context.Context, *queue.Message) consumer.Outcome {
					if cancelAfter == 0 {
						cancel()
					} else {
						time.AfterFunc(cancelAfter, cancel)
					}
					return consumer.Resume(time.Hour, func(ctx context.Context) consumer.Outcome {
						ran.Store(true)
						if err := ctx.Err(); err != nil {
							return consumer.Nack(err)
						}
						return consumer.Ack()
					})
				})
			require.NoError(t, err)
			var nacked atomic.Bool
			done := make(chan consumer.Outcome, 1)
			go func() {
				done <- c.Handle(ctx, queue.NewReceived(queue.Message{ID: "m-1"}, func() {}, func() { nacked.Store(true) }))
			}()
			select {
			case got := <-done:
				assert.Equal(t, consumer.VerdictNack, got.Verdict)
				assert.Contains(t, got.Reason, context.Canceled.Error())
			case <-time.After(10 * time.Second):
				t.Fatal("the hour's wait was not cut short")
			}
			assert.True(t, ran.Load(), "the continuation ran to end the handling")
			assert.True(t, nacked.Load())
		})
	}
}

// A continuation that ends its goroutine without returning (runtime.Goexit,
// as t.FailNow does) nacks the message instead of holding it forever.
func TestResumedContinuationThatExitsNacks(t *testing.T) {
	t.Parallel()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q},
		func(context.Context, *queue.Message) consumer.Outcome {
			return consumer.Resume(0, func(context.Context) consumer.Outcome { runtime.Goexit(); return consumer.Ack() })
		})
	require.NoError(t, err)
	var nacked atomic.Bool
	got := c.Handle(context.Background(), queue.NewReceived(queue.Message{ID: "m-1"}, func() {}, func() { nacked.Store(true) }))
	assert.Equal(t, consumer.VerdictNack, got.Verdict)
	assert.True(t, nacked.Load())
}

// A continuation that panics is recovered and counted like the handler:
// nacked, then dead-lettered at MaxPanics.
func TestResumedPanicIsRecoveredAndCounted(t *testing.T) {
	t.Parallel()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	provision(t, q)
	c, err := consumer.New(consumer.Config{Subscription: sub, DeadLetterTopic: dlq, Publisher: q, MaxPanics: 2},
		func(context.Context, *queue.Message) consumer.Outcome {
			return consumer.Resume(0, func(context.Context) consumer.Outcome { panic("late bug") })
		})
	require.NoError(t, err)
	msg := func() *queue.Message { return queue.NewReceived(queue.Message{ID: "a"}, func() {}, func() {}) }
	assert.Equal(t, consumer.VerdictNack, c.Handle(context.Background(), msg()).Verdict)
	got := c.Handle(context.Background(), msg())
	assert.Equal(t, consumer.VerdictDeadLetter, got.Verdict)
	require.Len(t, q.Published(dlq), 1)
	assert.Equal(t, "late bug", q.Published(dlq)[0].Attr(consumer.AttrPanic))
}
