package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
)

func sample() dispatch.Message {
	return dispatch.Message{
		JobID: "5f0c0000-0000-4000-8000-000000000001", ProjectID: "dev", Attempt: 2,
		Backend: "luma", Model: "ray-2", Seconds: 5, Estimate: money.MustParse("0.71"),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	m := sample()
	b, err := m.Encode()
	require.NoError(t, err)
	require.JSONEq(t, `{"job_id":"5f0c0000-0000-4000-8000-000000000001","project_id":"dev","attempt":2,
		"backend":"luma","model":"ray-2","seconds":5,"estimate_usd":0.71}`, string(b))
	got, err := dispatch.Decode(b)
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ data, want string }{
		"empty":          {"", "data is empty"},
		"not json":       {"nope", "invalid JSON"},
		"wrong type":     {`{"job_id": 7}`, "invalid JSON"},
		"unknown field":  {`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","extra":1}`, "unknown field"},
		"trailing data":  {`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"} {}`, "single JSON object"},
		"trailing brace": {`{"job_id":"j","project_id":"p","attempt":1,"backend":"b"}}`, "single JSON object"},
		"trailing nbsp":  {"{\"job_id\":\"j\",\"project_id\":\"p\",\"attempt\":1,\"backend\":\"b\"}\u00a0", "single JSON object"},
		"no job_id":      {`{"project_id":"p","attempt":1,"backend":"b"}`, "job_id is required"},
		"no project":     {`{"job_id":"j","attempt":1,"backend":"b"}`, "project_id is required"},
		"zero attempt":   {`{"job_id":"j","project_id":"p","attempt":0,"backend":"b"}`, "attempt must be ≥ 1"},
		"no backend":     {`{"job_id":"j","project_id":"p","attempt":1}`, "backend is required"},
		"bad money":      {`{"job_id":"j","project_id":"p","attempt":1,"backend":"b","estimate_usd":0.0000001}`, "invalid JSON"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := dispatch.Decode([]byte(tt.data))
			require.Error(t, err)
			require.True(t, errors.Is(err, errclass.Permanent), "error %v must be Permanent", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestAttributes(t *testing.T) {
	t.Parallel()
	require.Equal(t, map[string]string{
		"job_id": "5f0c0000-0000-4000-8000-000000000001", "project_id": "dev", "attempt": "2", "backend": "luma",
	}, sample().Attributes())
	require.Equal(t, map[string]string{"job_id": "j", "project_id": "p"}, dispatch.JobAttributes("j", "p", 0))

	n, ok, err := dispatch.ParseAttempt(map[string]string{"attempt": "3"})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 3, n)
	_, ok, err = dispatch.ParseAttempt(map[string]string{})
	require.NoError(t, err)
	require.False(t, ok)
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		_, _, err = dispatch.ParseAttempt(map[string]string{"attempt": bad})
		require.ErrorIs(t, err, errclass.Permanent, bad)
	}
}

func TestPublishCarriesTraceAndAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New()
	require.NoError(t, queue.Provision(ctx, q, queue.Topology([]string{"luma"})))

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))

	_, err := dispatch.Publish(ctx, q, sample())
	require.NoError(t, err)
	_, err = dispatch.PublishReroute(ctx, q, "j1", "dev", 3)
	require.NoError(t, err)
	j := job.New("j1", "dev", job.Request{QualityTier: job.TierPremium}, testTime)
	require.NoError(t, j.Fail(job.CodeNoBackend, "none", testTime.Add(1500*time.Millisecond)))
	_, err = dispatch.PublishLifecycle(ctx, q, dispatch.LifecycleOf(j))
	require.NoError(t, err)

	d := q.Published(queue.DispatchTopic("luma"))
	require.Len(t, d, 1)
	require.Equal(t, "luma", d[0].Attributes["backend"])
	require.Equal(t, "2", d[0].Attributes["attempt"])
	require.True(t, strings.HasPrefix(d[0].Attributes["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-"))

	r := q.Published(queue.TopicJobs)
	require.Len(t, r, 1)
	require.Equal(t, "3", r[0].Attributes["attempt"])
	require.Equal(t, "j1", r[0].Attributes["job_id"])
	require.Contains(t, r[0].Attributes["traceparent"], "4bf92f3577b34da6a3ce929d0e0e4736")

	e := q.Published(queue.TopicEvents)
	require.Len(t, e, 1)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(e[0].Data, &raw))
	require.Equal(t, map[string]any{"job_id": "j1", "project_id": "dev", "status": "failed",
		"error": map[string]any{"code": "no_backend", "message": "none"}, "tier": "premium",
		"created_at": "2026-11-25T12:00:00Z", "completed_at": "2026-11-25T12:00:01.5Z"}, raw)
	ev, err := dispatch.DecodeLifecycle(e[0].Data)
	require.NoError(t, err)
	require.Equal(t, dispatch.LifecycleOf(j), ev)
}

var testTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// A lifecycle event from a later version, with a field this one does not
// know, is read (a rolling deploy must not dead-letter events); one
// without its required fields is not.
func TestDecodeLifecycleToleratesNewFields(t *testing.T) {
	t.Parallel()
	ev, err := dispatch.DecodeLifecycle([]byte(`{"job_id":"j","project_id":"p","status":"succeeded","region":"eu","cost":{"usd":1}}`))
	require.NoError(t, err)
	require.Equal(t, dispatch.Lifecycle{JobID: "j", ProjectID: "p", Status: "succeeded"}, ev)
	_, err = dispatch.DecodeLifecycle([]byte(`{"job_id":"j","status":"succeeded","region":"eu"}`))
	require.ErrorIs(t, err, errclass.Permanent)
}

func TestDecodeAcceptsTrailingWhitespace(t *testing.T) {
	t.Parallel()
	m, err := dispatch.Decode([]byte("{\"job_id\":\"j\",\"project_id\":\"p\",\"attempt\":1,\"backend\":\"b\"}\n \t\r"))
	require.NoError(t, err)
	require.Equal(t, "j", m.JobID)
}
