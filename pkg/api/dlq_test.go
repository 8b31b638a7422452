package api_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/router"
)

// dlqEnv is a test server whose DeadLetters serve the memqueue of the
// server, provisioned with the catalog's topology (without retry backoff,
// so that a listing's nacks are visible to the next call at once), as the
// services wire them: ingest's deadletter.Remote, whose replays a router's
// deadletter.Replayer carries out over the same queue and store.
type dlqEnv struct {
	*env
	subs []string
}

// dlqOptions tune setupDLQ.
type dlqOptions struct {
	noRouter      bool          // run no Replayer: replays stay queued
	replayTimeout time.Duration // of the Remote; 0: 10 s
}

// lateDeadLetters is set after setup made the queue.
type lateDeadLetters struct {
	mu  sync.Mutex
	svc api.DeadLetters
}

func (l *lateDeadLetters) get() api.DeadLetters {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.svc
}

func (l *lateDeadLetters) Subscriptions() []string { return l.get().Subscriptions() }

func (l *lateDeadLetters) List(ctx context.Context, sub string, max int) ([]deadletter.Letter, error) {
	return l.get().List(ctx, sub, max)
}

func (l *lateDeadLetters) Replay(ctx context.Context, sub string, ids []string, max int) (deadletter.ReplayResult, error) {
	return l.get().Replay(ctx, sub, ids, max)
}

func setupDLQ(t *testing.T, opts ...dlqOptions) *dlqEnv {
	t.Helper()
	var o dlqOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	late := &lateDeadLetters{}
	e := setup(t, func(c *api.Config) { c.DeadLetters = late })
	names := catalog.Default().Names()
	subs := queue.Topology(names)
	for i := range subs {
		subs[i].MinBackoff, subs[i].MaxBackoff = 0, 0
	}
	require.NoError(t, queue.Provision(context.Background(), e.q, subs))
	remote, err := deadletter.NewRemote(deadletter.RemoteConfig{Queue: e.q, Results: e.st, Backends: names,
		Wait: 50 * time.Millisecond, ReplayTimeout: cmp.Or(o.replayTimeout, 10*time.Second), PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	late.mu.Lock()
	late.svc = remote
	late.mu.Unlock()
	if !o.noRouter {
		startReplayer(t, e)
	}
	return &dlqEnv{env: e, subs: deadletter.Subscriptions(names)}
}

// startReplayer runs the router's dead-letter Replayer over e's queue and
// store until the test ends.
func startReplayer(t *testing.T, e *env) {
	t.Helper()
	rp, err := deadletter.NewReplayer(deadletter.ReplayerConfig{Queue: e.q, Results: e.st, Backends: catalog.Default().Names(),
		Wait: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// routeOne hands the next message of aiprod-router to a router over the
// test's store and queue, as the router service would.
func (e *dlqEnv) routeOne() {
	e.t.Helper()
	rt, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: catalog.Default(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var once sync.Once
	handled := false
	err = e.q.Receive(ctx, queue.SubscriptionRouter, queue.ReceiveOptions{MaxOutstanding: 1}, func(ctx context.Context, m *queue.Message) {
		once.Do(func() {
			rt.Handle(ctx, m)
			handled = true
			cancel()
		})
	})
	require.NoError(e.t, err)
	require.True(e.t, handled, "no message on aiprod-router")
}

func (e *dlqEnv) list(query string) *api.DeadLetterList {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/admin/dlq"+query, adminKey, "")
	require.Equal(e.t, http.StatusOK, r.status, string(r.body))
	return decode[api.DeadLetterList](e.t, r)
}

// TestDeadLetterListAndReplay: a poison message is dead-lettered by the
// router with a reason, listed (not consumed), replayed to aiprod-jobs, and
// the DLQ is empty after.
func TestDeadLetterListAndReplay(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t)
	ctx := context.Background()
	_, err := e.q.Publish(ctx, queue.TopicJobs, queue.Message{
		Data: []byte(`{"prompt": 42}`), Attributes: map[string]string{queue.AttrProjectID: projectA},
	})
	require.NoError(t, err)
	e.routeOne()
	require.Equal(t, 1, e.q.Pending(queue.DeadLetterTopic(queue.TopicJobs)), "the router dead-lettered it")

	for range 2 { // listing does not consume
		l := e.list("?subscription=aiprod-jobs-dlq")
		require.Equal(t, []string{"aiprod-jobs-dlq"}, l.Subscriptions)
		require.Len(t, l.Messages, 1)
		m := l.Messages[0]
		require.NotEmpty(t, m.ID)
		require.Equal(t, "aiprod-jobs-dlq", m.Subscription)
		require.Equal(t, `{"prompt": 42}`, m.Data)
		require.False(t, m.DataBase64)
		require.Contains(t, m.Reason, "invalid job request")
		require.Contains(t, m.Reason, "prompt")
		require.Equal(t, m.Reason, m.Attributes[queue.AttrReason])
		require.Equal(t, queue.SubscriptionRouter, m.SourceSubscription)
		require.Equal(t, queue.TopicJobs, m.Topic)
		require.Equal(t, projectA, m.Attributes[queue.AttrProjectID])
		require.False(t, m.PublishTime.IsZero())
	}
	id := e.list("").Messages[0].ID

	r := e.do(http.MethodPost, "/v1/admin/dlq/replay", adminKey, `{"subscription":"aiprod-jobs-dlq","ids":["`+id+`","gone"]}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	res := decode[api.DeadLetterReplayResult](t, r)
	require.NotEmpty(t, res.RequestID)
	require.Equal(t, api.DeadLetterReplayResult{Replayed: 1, IDs: []string{id}, NotFound: []string{"gone"}, RequestID: res.RequestID}, *res)
	require.Len(t, e.q.Published(queue.TopicDLQReplay), 1, "ingest asked the router to replay")

	jobs := e.q.Published(queue.TopicJobs)
	require.Len(t, jobs, 2, "replayed to aiprod-jobs")
	require.Equal(t, `{"prompt": 42}`, string(jobs[1].Data))
	require.Equal(t, projectA, jobs[1].Attributes[queue.AttrProjectID])
	require.NotEmpty(t, jobs[1].Attributes["traceparent"], "the dead letter's trace context stays (its publish was traced)")
	require.NotContains(t, jobs[1].Attributes, queue.AttrReason)
	require.NotContains(t, jobs[1].Attributes, queue.AttrSourceSub)
	require.Equal(t, 1, e.q.Pending(queue.SubscriptionRouter))
	require.Equal(t, 0, e.q.Pending(queue.DeadLetterTopic(queue.TopicJobs)), "the DLQ is empty")
	require.Empty(t, e.list("?subscription=aiprod-jobs-dlq").Messages)

	// Still poison: the router refuses it again, with its reason.
	e.routeOne()
	require.Len(t, e.list("").Messages, 1)
}

func TestDeadLetterListAll(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t)
	ctx := context.Background()
	binary := []byte{0xff, 0x00, 0x01}
	_, err := e.q.Publish(ctx, "aiprod-dispatch-runway-dlq", queue.Message{Data: binary,
		Attributes: map[string]string{queue.AttrReason: "undecodable dispatch message", queue.AttrSourceSub: "aiprod-worker-runway"}})
	require.NoError(t, err)
	_, err = e.q.Publish(ctx, "aiprod-events-dlq", queue.Message{Data: []byte(`{"job_id":"x"}`)})
	require.NoError(t, err)

	l := e.list("")
	require.Equal(t, e.subs, l.Subscriptions, "every dead-letter subscription")
	require.Len(t, l.Messages, 2)
	byTopic := map[string]api.DeadLetterView{}
	for _, m := range l.Messages {
		byTopic[m.Topic] = m
	}
	d := byTopic["aiprod-dispatch-runway"]
	require.True(t, d.DataBase64)
	require.Equal(t, base64.StdEncoding.EncodeToString(binary), d.Data)
	require.Equal(t, "undecodable dispatch message", d.Reason)
	ev := byTopic["aiprod-events"]
	require.Equal(t, deadletter.ReasonExhausted, ev.Reason, "no reason attribute: Pub/Sub gave up on it")
	require.Equal(t, map[string]string{}, ev.Attributes)

	require.Len(t, e.list("?max=1").Messages, 1)

	// Replay of a whole subscription.
	r := e.do(http.MethodPost, "/v1/admin/dlq/replay", adminKey, `{"subscription":"aiprod-dispatch-runway-dlq"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 1, decode[api.DeadLetterReplayResult](t, r).Replayed)
	require.Len(t, e.q.Published(queue.DispatchTopic("runway")), 1)
	require.Len(t, e.list("").Messages, 1)
}

func TestDeadLetterRoutesRejectBadRequests(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t)
	requireError(t, e.do(http.MethodGet, "/v1/admin/dlq", "", ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, "/v1/admin/dlq", keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodPost, "/v1/admin/dlq/replay", keyA, `{"subscription":"aiprod-jobs-dlq"}`),
		http.StatusUnauthorized, "unauthenticated", "")

	d := requireError(t, e.do(http.MethodGet, "/v1/admin/dlq?subscription=aiprod-router", adminKey, ""),
		http.StatusBadRequest, "invalid_request", "subscription")
	require.Contains(t, d.Message, "aiprod-jobs-dlq", "names the known ones")
	for _, q := range []string{"?max=0", "?max=1001", "?max=x"} {
		requireError(t, e.do(http.MethodGet, "/v1/admin/dlq"+q, adminKey, ""), http.StatusBadRequest, "invalid_request", "max")
	}
	for _, tt := range []struct{ body, field string }{
		{`{}`, "subscription"},
		{`{"subscription":"aiprod-router"}`, "subscription"},
		{`{"subscription":"aiprod-jobs-dlq","ids":[""]}`, "ids[0]"},
		{`{"subscription":"aiprod-jobs-dlq","max":-1}`, "max"},
		{`{"subscription":"aiprod-jobs-dlq","all":true}`, "all"},
		{`{"subscription":"aiprod-jobs-dlq","ids":"x"}`, "ids"},
	} {
		requireError(t, e.do(http.MethodPost, "/v1/admin/dlq/replay", adminKey, tt.body), http.StatusBadRequest, "invalid_request", tt.field)
	}
	requireError(t, e.do(http.MethodDelete, "/v1/admin/dlq", adminKey, ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
}

func TestDeadLetterRoutesWithoutDeadLetters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := requireError(t, e.do(http.MethodGet, "/v1/admin/dlq", adminKey, ""), http.StatusNotFound, "not_found", "")
	require.Contains(t, d.Message, "DeadLetters")
	requireError(t, e.do(http.MethodPost, "/v1/admin/dlq/replay", adminKey, `{"subscription":"aiprod-jobs-dlq"}`),
		http.StatusNotFound, "not_found", "")
}

// TestDeadLetterReplayPending: when the router does not answer a replay
// request in time, the route says so truthfully (202, pending, the request
// id, nothing replayed); the request stays queued and is carried out once
// a router runs.
func TestDeadLetterReplayPending(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t, dlqOptions{noRouter: true, replayTimeout: 50 * time.Millisecond})
	_, err := e.q.Publish(context.Background(), "aiprod-events-dlq", queue.Message{Data: []byte(`{"job_id":"x"}`)})
	require.NoError(t, err)

	r := e.do(http.MethodPost, "/v1/admin/dlq/replay", adminKey, `{"subscription":"aiprod-events-dlq"}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	res := decode[api.DeadLetterReplayResult](t, r)
	require.True(t, res.Pending)
	require.NotEmpty(t, res.RequestID)
	require.Zero(t, res.Replayed)
	require.Empty(t, e.q.Published(queue.TopicEvents), "nothing replayed yet")

	startReplayer(t, e.env)
	require.Eventually(t, func() bool { return len(e.q.Published(queue.TopicEvents)) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the queued request is carried out")
	require.Empty(t, e.list("?subscription=aiprod-events-dlq").Messages)
}
