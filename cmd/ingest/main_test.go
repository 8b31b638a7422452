package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	pubsubemu "github.com/aiprod/aiprod/pkg/emulator/pubsub"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
)

// addrHandler is a slog.Handler that passes on the address of the
// "listening" record and drops the rest.
type addrHandler struct {
	slog.Handler
	addr chan<- string
}

func (addrHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h addrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			h.addr <- a.Value.String()
		}
		return true
	})
	return nil
}

// service is a running ingest service (run) over the Pub/Sub and
// Firestore emulators and the production clients.
type service struct {
	url string // http://127.0.0.1:port
	q   *gcppubsub.Queue
	fc  *firestore.Client
}

// startService runs the service with cfg until the test ends.
func startService(t *testing.T, cfg Config) service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ps, err := pubsubemu.Serve("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	q, err := ps.Queue(ctx, "ingest-test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	fs, err := firestoreemu.NewServer()
	require.NoError(t, err)
	fc, err := fs.Client(ctx, "ingest-test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = fc.Close(); _ = fs.Close() })

	addr := make(chan string, 1)
	log := slog.New(addrHandler{Handler: slog.DiscardHandler, addr: addr})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, cfg, platform.Deps{Log: log, Queue: q, Store: firestorestore.NewFromClient(fc)})
	}()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
	select {
	case a := <-addr:
		_, port, err := net.SplitHostPort(a)
		require.NoError(t, err)
		return service{url: "http://127.0.0.1:" + port, q: q, fc: fc}
	case err := <-done:
		done <- err // for the cleanup, which waits for it
		t.Fatalf("run returned before listening: %v", err)
		return service{}
	}
}

// TestReadyz runs the service over the production clients, against the
// Pub/Sub and Firestore emulators: /readyz is 503 until aiprod-jobs
// exists, 200 once it does, and 503 again when Firestore stops answering.
func TestReadyz(t *testing.T) {
	t.Parallel()
	s := startService(t, Config{Config: platform.Config{Project: "ingest-test", Catalog: catalog.Default()}})
	readyz := func() int {
		res, err := http.Get(s.url + "/readyz")
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		return res.StatusCode
	}

	require.Equal(t, http.StatusServiceUnavailable, readyz(), "no aiprod-jobs topic yet")
	require.NoError(t, s.q.EnsureTopic(context.Background(), queue.TopicJobs))
	require.Equal(t, http.StatusOK, readyz())
	require.NoError(t, s.fc.Close())
	require.Equal(t, http.StatusServiceUnavailable, readyz(), "Firestore's client is closed")
}

// TestServiceLimitsFromEnv is issue 13 finding 1's probe against the
// service configured from an environment that sets neither
// AIPROD_RATE_LIMIT nor AIPROD_DEFAULT_MONTHLY_LIMIT_USD: a new project has
// the default budget (no longer limit_usd: null), and one key sending
// requests back to back gets 429s with Retry-After.
func TestServiceLimitsFromEnv(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", MinKeyLen)
	env := platformtest.Base()
	env["PORT"] = "0" // any free port, not 8080: the tests run in parallel, beside a dev stack maybe
	env["AIPROD_BOOTSTRAP_API_KEY"] = "acme:" + key
	cfg, err := FromEnv(platformtest.Getenv(env))
	require.NoError(t, err)
	s := startService(t, cfg)
	get := func(path string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}

	res, body := get("/v1/budget")
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	var b struct {
		Limit  *float64 `json:"limit_usd"`
		Source string   `json:"limit_source"`
	}
	require.NoError(t, json.Unmarshal(body, &b))
	require.NotNil(t, b.Limit, "a new project is not unlimited: %s", body)
	require.InDelta(t, 100, *b.Limit, 0)
	require.Equal(t, "default", b.Source)

	// 50 requests a second and a burst of 100: a 429 comes long before
	// 2,000 requests, however slow the machine.
	for i := range 2000 {
		res, body := get("/v1/jobs?limit=500")
		if res.StatusCode == http.StatusOK {
			continue
		}
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, string(body))
		require.Contains(t, string(body), `"code":"rate_limited"`)
		require.Equal(t, "1", res.Header.Get("Retry-After"))
		require.GreaterOrEqual(t, i, 100, "the burst passes")
		return
	}
	t.Fatal("2,000 requests back to back and no 429")
}

// TestConsoleFromEnv: the service configured from the environment serves
// the console at /console, and AIPROD_CONSOLE=false leaves it a 404.
func TestConsoleFromEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value  string
		status int
	}{{"", http.StatusOK}, {"false", http.StatusNotFound}} {
		env := platformtest.Base()
		env["PORT"] = "0"
		if tt.value != "" {
			env["AIPROD_CONSOLE"] = tt.value
		}
		cfg, err := FromEnv(platformtest.Getenv(env))
		require.NoError(t, err)
		s := startService(t, cfg)
		res, err := http.Get(s.url + "/console")
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, tt.status, res.StatusCode, "AIPROD_CONSOLE=%q", tt.value)
	}
}
