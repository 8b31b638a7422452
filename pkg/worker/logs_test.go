package worker_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/sim/runwaysim"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/worker"
)

// syncBuffer is a bytes.Buffer safe for the services' concurrent logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The services' JSON logs, for a job that a real provider adapter (Runway,
// against its simulator) first refuses (a wrong credential) and then
// serves: every line about the job carries the Cloud Logging trace fields
// of the job's trace, and the provider credential appears in no line.
func TestLogsCarryTheTraceAndNoSecret(t *testing.T) {
	t.Parallel()
	const key = "key_live_4f9c2b7e1d3a8c5f6e0b9d2a7c4e1f3b"
	s := runwaysim.New(sim.Config{QueueTime: time.Millisecond, RunTime: time.Millisecond})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.Core().SetBaseURL(srv.URL)
	s.Core().SetCredential("another key") // the first submit is refused: 401
	cat, err := catalog.Parse([]byte(`{"version": "logs", "backends": [{"name": "runway", "provider": "runway",
	  "endpoint": "` + srv.URL + `", "offers": [{"model": "gen4_turbo", "tier": "standard", "resolutions": ["720p"],
	  "aspect_ratios": ["16:9"], "durations": [5, 10], "text_to_video": false, "image_to_video": true, "audio": false,
	  "prices": [{"per_second_usd": 0.05, "source": "test", "as_of": "2026-01-01"}]}]}]}`))
	require.NoError(t, err)
	rw, err := runway.New(runway.Config{Endpoint: srv.URL, APIKey: key, HTTPClient: srv.Client(), PollInterval: time.Millisecond})
	require.NoError(t, err)

	e := setup(t)
	require.NoError(t, queue.Provision(ctx, e.q, queue.Topology(cat.Names())))
	logs := &syncBuffer{}
	log := telemetry.Logger(logs, "aiprod-test", slog.LevelDebug)
	r, err := router.New(router.Config{Queue: e.q, Store: e.st, Catalog: cat, Logger: log, Now: e.clock.Now, HealthCacheTTL: -1})
	require.NoError(t, err)
	run(t, r)
	w, err := worker.New(worker.Config{Queue: e.q, Store: e.st, Catalog: cat, Logger: log, Now: e.clock.Now,
		Backends: map[string]backend.Backend{"runway": rw}, PollInterval: time.Millisecond, MaxAttempts: 1,
		Retry: retry.Policy{MaxAttempts: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	require.NoError(t, err)
	run(t, w)

	req := job.Request{Prompt: "a fox", DurationSeconds: 5, ImageURL: "https://example.com/fox.png"}
	req.ApplyDefaults()
	require.NoError(t, req.Validate())
	ictx, span := telemetry.Tracer().Start(ctx, "ingest")
	refused := e.ingest(t, ictx, req)
	span.End()
	got := e.wait(t, refused.ID, terminal)
	require.Equal(t, job.StatusFailed, got.Status, "the provider refused the credential")

	s.Core().SetCredential(key)
	ictx, span = telemetry.Tracer().Start(ctx, "ingest")
	served := e.ingest(t, ictx, req)
	span.End()
	require.Equal(t, job.StatusSucceeded, e.wait(t, served.ID, terminal).Status)

	traceOf := map[string]string{refused.ID: refused.TraceID, served.ID: served.TraceID}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.NotEmpty(t, lines)
	about := 0
	for _, l := range lines {
		assert.NotContains(t, l, key, "a log line holds the provider credential")
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		id, _ := rec["job_id"].(string)
		tid, ok := traceOf[id]
		if !ok {
			continue
		}
		about++
		assert.Equal(t, "projects/aiprod-test/traces/"+tid, rec["logging.googleapis.com/trace"], l)
		assert.NotEmpty(t, rec["logging.googleapis.com/spanId"], l)
		assert.NotEmpty(t, rec["severity"], l)
	}
	assert.Positive(t, about, "the services logged about the jobs")
	assert.Contains(t, logs.String(), "RUNWAYML_API_SECRET", "the refusal names the variable to check, not its value")
}
