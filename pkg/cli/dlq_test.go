package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/cli"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

type dlqCLI struct {
	q   *memqueue.Queue
	url string
}

// setupDLQ serves the API over a memqueue with the default catalog's
// topology (no retry backoff) and dead-letter admin routes, wired as the
// services are: the API's deadletter.Remote asks a router's Replayer,
// running unless router is false, to replay.
func setupDLQ(t *testing.T, router ...bool) *dlqCLI {
	t.Helper()
	q := memqueue.New()
	t.Cleanup(func() { _ = q.Close() })
	names := catalog.Default().Names()
	subs := queue.Topology(names)
	for i := range subs {
		subs[i].MinBackoff, subs[i].MaxBackoff = 0, 0
	}
	require.NoError(t, queue.Provision(context.Background(), q, subs))
	st := memstore.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	timeout := 10 * time.Second
	if len(router) == 0 || router[0] {
		rp, err := deadletter.NewReplayer(deadletter.ReplayerConfig{Queue: q, Results: st, Backends: names,
			Wait: 50 * time.Millisecond, Logger: log})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rp.Run(ctx) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	} else {
		timeout = 50 * time.Millisecond
	}
	remote, err := deadletter.NewRemote(deadletter.RemoteConfig{Queue: q, Results: st, Backends: names,
		Wait: 50 * time.Millisecond, ReplayTimeout: timeout, PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	s, err := api.New(api.Config{
		Store: st, Queue: q, Catalog: catalog.Default(), AdminKey: "dev-admin", DeadLetters: remote, Logger: log,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &dlqCLI{q: q, url: srv.URL}
}

func (e *dlqCLI) run(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, &cli.Env{
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "AIPROD_API" {
				return e.url
			}
			return env[k]
		},
	})
	return code, out.String(), errOut.String()
}

func TestDLQListAndReplay(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t)
	id, err := e.q.Publish(context.Background(), "aiprod-jobs-dlq", queue.Message{
		Data: []byte(`{"prompt":"a fox", "duration_seconds": 500}`),
		Attributes: map[string]string{
			queue.AttrProjectID: "dev", queue.AttrSourceSub: queue.SubscriptionRouter,
			queue.AttrReason: "invalid job request: field duration_seconds: must be at most 60",
		},
	})
	require.NoError(t, err)

	code, out, errOut := e.run(nil, "dlq", "list")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^ID\s+SUBSCRIPTION\s+REASON\s+PUBLISHED\s+DATA$`, lines[0])
	require.True(t, strings.HasPrefix(lines[1], id+" "), out)
	require.Contains(t, lines[1], "aiprod-jobs-dlq")
	require.Contains(t, lines[1], "invalid job request: field duration_seconds")
	require.Contains(t, lines[1], `{"prompt":"a fox",`)

	code, out, errOut = e.run(nil, "dlq", "list", "--subscription", "aiprod-jobs-dlq", "--json")
	require.Equal(t, 0, code, errOut)
	var l api.DeadLetterList
	require.NoError(t, json.Unmarshal([]byte(out), &l))
	require.Len(t, l.Messages, 1)
	require.Equal(t, queue.TopicJobs, l.Messages[0].Topic)

	// The admin key is checked: a wrong one is the API's 401.
	code, _, errOut = e.run(map[string]string{"AIPROD_ADMIN_KEY": "wrong"}, "dlq", "list")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "401 unauthenticated")

	code, out, errOut = e.run(nil, "dlq", "replay", "--subscription", "aiprod-jobs-dlq", "--id", id, "--id", "nope")
	require.Equal(t, 1, code, "an id was not found")
	require.Contains(t, out, "replayed 1 message(s) from aiprod-jobs-dlq")
	require.Contains(t, out, id)
	require.Contains(t, errOut, "not found: nope")
	require.Equal(t, 1, e.q.Pending(queue.SubscriptionRouter), "back on aiprod-jobs")
	require.Equal(t, 0, e.q.Pending("aiprod-jobs-dlq"))

	code, _, errOut = e.run(nil, "dlq", "list")
	require.Equal(t, 0, code)
	require.Contains(t, errOut, "no dead letters")

	_, err = e.q.Publish(context.Background(), "aiprod-dispatch-luma-dlq", queue.Message{Data: []byte{0xff, 0xfe}})
	require.NoError(t, err)
	code, out, errOut = e.run(nil, "dlq", "list", "--max", "5")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "base64:")
	code, out, errOut = e.run(nil, "dlq", "replay", "--subscription", "aiprod-dispatch-luma-dlq", "--all")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "replayed 1 message(s)")
}

// TestDLQReplayNotConfirmed: when the router has not carried out the
// replay in time, the command says it was requested, not done, and exits 1.
func TestDLQReplayNotConfirmed(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t, false)
	_, err := e.q.Publish(context.Background(), "aiprod-jobs-dlq", queue.Message{Data: []byte(`{}`)})
	require.NoError(t, err)
	code, out, errOut := e.run(nil, "dlq", "replay", "--subscription", "aiprod-jobs-dlq", "--all")
	require.Equal(t, 1, code)
	require.Regexp(t, `^replay of aiprod-jobs-dlq requested \(request [0-9a-f-]{36}\), not carried out yet`, out)
	require.Contains(t, errOut, "replay not confirmed")
	require.Equal(t, 1, e.q.Pending("aiprod-jobs-dlq"), "nothing replayed")
}

func TestDLQUsage(t *testing.T) {
	t.Parallel()
	e := setupDLQ(t)
	for _, args := range [][]string{
		{"dlq"},
		{"dlq", "purge"},
		{"dlq", "replay", "--all"},
		{"dlq", "replay", "--subscription", "aiprod-jobs-dlq"},
		{"dlq", "replay", "--subscription", "aiprod-jobs-dlq", "--all", "--id", "x"},
		{"dlq", "list", "--max", "x"},
		{"dlq", "list", "extra"},
	} {
		code, _, errOut := e.run(nil, args...)
		require.Equal(t, 2, code, "%v: %s", args, errOut)
		require.Contains(t, errOut, "Usage: aiprod dlq", "%v", args)
	}
	code, out, _ := e.run(nil, "dlq", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "aiprod dlq replay --subscription S")
	code, _, errOut := e.run(nil, "dlq", "list", "--subscription", "aiprod-router")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "field subscription")
	code, out, _ = e.run(nil, "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "dlq")
}
