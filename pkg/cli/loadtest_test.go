package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAPI speaks the part of the HTTP API that loadtest uses: POST /v1/jobs
// answers 202 with a job (every refuseEvery-th one 429 rate_limited) after
// delay, and GET /v1/jobs/{id} answers the job running until it was read
// finishAfter times (never when negative), then succeeded 2 s after its
// creation. Job n is created at base + n × 100 ms.
type fakeAPI struct {
	refuseEvery int
	finishAfter int
	delay       time.Duration

	mu       sync.Mutex
	arrivals []time.Time
	bodies   []string
	reads    map[string]int
}

var base = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func (f *fakeAPI) start(t *testing.T) *cliEnv {
	t.Helper()
	f.reads = map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", f.create)
	mux.HandleFunc("GET /v1/jobs/{id}", f.get)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &cliEnv{url: srv.URL}
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != "Bearer dev-key" {
		http.Error(w, `{"error":{"code":"unauthenticated","message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	f.arrivals = append(f.arrivals, time.Now())
	f.bodies = append(f.bodies, string(body))
	n := len(f.arrivals)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.refuseEvery > 0 && n%f.refuseEvery == 0 {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"slow down"}}`)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("job-%d", n), "status": "queued",
		"attempts": []any{}, "created_at": created(n), "updated_at": created(n)})
}

func created(n int) time.Time { return base.Add(time.Duration(n) * 100 * time.Millisecond) }

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var n int
	if _, err := fmt.Sscanf(id, "job-%d", &n); err != nil {
		http.Error(w, `{"error":{"code":"not_found","message":"no such job"}}`, http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.reads[id]++
	finished := f.finishAfter >= 0 && f.reads[id] > f.finishAfter
	f.mu.Unlock()
	j := map[string]any{"id": id, "status": "running", "attempts": []any{}, "created_at": created(n), "updated_at": created(n)}
	if finished {
		j["status"], j["completed_at"] = "succeeded", created(n).Add(2*time.Second)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(j)
}

func (f *fakeAPI) totalReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reads {
		n += r
	}
	return n
}

// report is loadtest's --json output.
type report struct {
	Accepted int            `json:"accepted"`
	Errors   map[string]int `json:"errors"`
	IngestMS struct {
		P50, P95, P99 float64
	} `json:"ingest_ms"`
	Completed   int `json:"completed"`
	CompletionS struct {
		P50, P95 float64
	} `json:"completion_s"`
	Throughput float64        `json:"throughput_jobs_per_s"`
	Sent       int            `json:"sent"`
	Statuses   map[string]int `json:"statuses"`
	Pending    int            `json:"pending"`
}

func loadtest(t *testing.T, e *cliEnv, args ...string) (report, string) {
	t.Helper()
	code, out, errOut := e.run(append([]string{"loadtest", "--json"}, args...)...)
	require.Equal(t, 0, code, errOut)
	var r report
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r, errOut
}

func TestLoadtestRateErrorsAndShape(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{refuseEvery: 10}
	e := f.start(t)
	start := time.Now()
	code, out, errOut := e.run("loadtest", "--rate", "200", "--duration", "500ms", "--json")
	require.Equal(t, 0, code, errOut)

	// DESIGN.md's shape, exactly these keys (and more besides).
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &raw), out)
	for _, k := range []string{"accepted", "errors", "ingest_ms", "completed", "completion_s", "throughput_jobs_per_s"} {
		require.Contains(t, raw, k)
	}
	var ingest, completion map[string]float64
	require.NoError(t, json.Unmarshal(raw["ingest_ms"], &ingest))
	require.NoError(t, json.Unmarshal(raw["completion_s"], &completion))
	require.Equal(t, []string{"p50", "p95", "p99"}, slices.Sorted(maps.Keys(ingest)))
	require.Equal(t, []string{"p50", "p95"}, slices.Sorted(maps.Keys(completion)))

	var r report
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, 100, r.Sent, "200/s for 0.5 s")
	require.Equal(t, 90, r.Accepted)
	require.Equal(t, map[string]int{"rate_limited": 10}, r.Errors)
	require.Positive(t, r.IngestMS.P50)
	require.LessOrEqual(t, r.IngestMS.P50, r.IngestMS.P95)
	require.LessOrEqual(t, r.IngestMS.P95, r.IngestMS.P99)
	require.Zero(t, r.Completed, "no --wait")

	// Sent on schedule: request n not before start + n/200 s, so the 100
	// span at least 99/200 s; and not much later.
	f.mu.Lock()
	arrivals := slices.Clone(f.arrivals)
	f.mu.Unlock()
	require.Len(t, arrivals, 100)
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	span := arrivals[99].Sub(arrivals[0])
	require.GreaterOrEqual(t, span, 445*time.Millisecond, "the requests were not sent in a burst")
	require.Less(t, arrivals[99].Sub(start), 2*time.Second)

	// Progress: plain lines, stderr not being a terminal.
	require.Contains(t, errOut, "sent 100  accepted 90  errors 10")
	require.NotContains(t, errOut, "\r")
}

func TestLoadtestLatencyCountsFromScheduledTime(t *testing.T) {
	t.Parallel()
	// One request at a time, 20 ms each, asked 100/s: the requests fall
	// behind schedule. A closed-loop tool would report 20 ms; counted from
	// the scheduled send time, the last ones waited about 150 ms more.
	f := &fakeAPI{delay: 20 * time.Millisecond}
	e := f.start(t)
	r, _ := loadtest(t, e, "--rate", "100", "--duration", "300ms", "--max-in-flight", "1")
	require.Equal(t, 30, r.Accepted)
	require.GreaterOrEqual(t, r.IngestMS.P99, 250.0, "the 30th request, due at 290 ms, is answered after 30 × 20 ms")
	require.GreaterOrEqual(t, r.IngestMS.P50, 20.0)
}

func TestLoadtestTransportErrorsCounted(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	r, _ := loadtest(t, &cliEnv{url: "http://" + addr}, "--rate", "50", "--duration", "100ms")
	require.Equal(t, 0, r.Accepted)
	require.Equal(t, map[string]int{"connection_refused": 5}, r.Errors)
	require.Zero(t, r.IngestMS.P99)
}

func TestLoadtestWaitReportsCompletion(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{finishAfter: 1}
	e := f.start(t)
	r, errOut := loadtest(t, e, "--rate", "100", "--duration", "200ms", "--wait")
	require.Equal(t, 20, r.Accepted)
	require.Equal(t, 20, r.Completed)
	require.Equal(t, map[string]int{"succeeded": 20}, r.Statuses)
	require.Zero(t, r.Pending)
	require.InDelta(t, 2.0, r.CompletionS.P50, 1e-9, "from created_at to completed_at")
	require.InDelta(t, 2.0, r.CompletionS.P95, 1e-9)
	// Jobs created from 0.1 s to 2.0 s, the last completed at 4.0 s.
	require.InDelta(t, 20/3.9, r.Throughput, 0.001)
	require.LessOrEqual(t, f.totalReads(), 60, "each job read about twice, not polled in a loop")
	require.Contains(t, errOut, "finished 20 of 20")
}

func TestLoadtestWaitTimeout(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{finishAfter: -1}
	e := f.start(t)
	start := time.Now()
	r, _ := loadtest(t, e, "--rate", "100", "--duration", "100ms", "--wait", "--wait-timeout", "300ms")
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 10, r.Accepted)
	require.Zero(t, r.Completed)
	require.Equal(t, 10, r.Pending)
	require.Zero(t, r.Throughput)
}

func TestLoadtestBodyFile(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	e := f.start(t)
	body := `{"prompt":"a cat","duration_seconds":8,"quality_tier":"premium"}`
	path := filepath.Join(t.TempDir(), "job.json")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	r, _ := loadtest(t, e, "--rate", "20", "--duration", "100ms", "--body", path)
	require.Equal(t, 2, r.Accepted)
	require.Equal(t, []string{body, body}, f.bodies)

	// The default body: a valid request whose prompt differs each time.
	g := &fakeAPI{}
	loadtest(t, g.start(t), "--rate", "20", "--duration", "100ms")
	require.Len(t, g.bodies, 2)
	require.NotEqual(t, g.bodies[0], g.bodies[1])
	for _, b := range g.bodies {
		var req map[string]any
		require.NoError(t, json.Unmarshal([]byte(b), &req), b)
		assert.EqualValues(t, 5, req["duration_seconds"])
		assert.Equal(t, "standard", req["quality_tier"])
	}
}

func TestLoadtestUsage(t *testing.T) {
	t.Parallel()
	e := (&fakeAPI{}).start(t)
	for _, args := range [][]string{
		{}, {"--rate", "10"}, {"--duration", "1s"}, {"--rate", "0", "--duration", "1s"},
		{"--rate", "1", "--duration", "100ms"}, // no request in 0.1 s at 1/s
		{"--rate", "10", "--duration", "1s", "extra"}, {"--rate", "10", "--duration", "1s", "--max-in-flight", "0"},
	} {
		code, _, _ := e.run(append([]string{"loadtest"}, args...)...)
		require.Equal(t, 2, code, "%q", args)
	}
	code, _, errOut := e.run("loadtest", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, errOut, "coordinated omission")
	require.Contains(t, errOut, "-wait-timeout")

	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{not json"), 0o600))
	for _, file := range []string{bad, filepath.Join(t.TempDir(), "missing.json")} {
		code, _, errOut = e.run("loadtest", "--rate", "10", "--duration", "1s", "--body", file)
		require.Equal(t, 1, code)
		require.True(t, strings.HasPrefix(errOut, "aiprod loadtest: "), errOut)
	}
}
