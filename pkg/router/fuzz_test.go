package router

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// fuzzJobID is the id of the one job (queued, project dev) in the store of
// fuzzRouter.
const fuzzJobID = "5f0c1a2b-0000-4000-8000-00000000abcd"

// fuzzRouter is a Router over a fresh memstore and provisioned memqueue,
// whose store holds the queued job fuzzJobID of project dev.
func fuzzRouter(t *testing.T, cat *catalog.Catalog) (*Router, *memstore.Store, *memqueue.Queue) {
	t.Helper()
	ctx := context.Background()
	q, st := memqueue.New(), memstore.New()
	t.Cleanup(func() { _ = q.Close(); _ = st.Close() })
	require.NoError(t, queue.Provision(ctx, q, queue.Topology(cat.Names())))
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	_, _, err := storetest.CreateJob(ctx, st, job.New(fuzzJobID, "dev", fuzzRequest(), now))
	require.NoError(t, err)
	r, err := New(Config{Queue: q, Store: st, Catalog: cat, HealthCacheTTL: -1, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return r, st, q
}

func fuzzRequest() job.Request {
	req := job.Request{Prompt: "a red fox running through snow", DurationSeconds: 5}
	req.ApplyDefaults()
	return req
}

// FuzzJobsMessage hands the router a message of aiprod-jobs with any data
// and attributes (project_id, job_id, attempt, idempotency_key,
// traceparent, message id): what pkg/client.Publish sends, what ingest
// and reroutes send, and anything else Pub/Sub can carry (memqueue's
// publish checks Pub/Sub's limits). The router never panics and never
// asks for redelivery (the store and queue work): it acks or dead-letters
// with a reason. A job request it accepts becomes a stored job of a valid
// project, under the id of its idempotency key, whose request is valid and
// survives a JSON round trip, in the trace of the message's traceparent.
func FuzzJobsMessage(f *testing.F) {
	valid, err := json.Marshal(fuzzRequest())
	require.NoError(f, err)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, s := range []struct{ data, project, jobID, attempt, key, traceparent, msgID string }{
		{string(valid), "dev", "", "", "", tp, "1"},         // pkg/client.Publish
		{string(valid), "acme", "", "", "order-42", "", ""}, // with an idempotency key, no message id
		{`{"prompt":"p","duration_seconds":5,"backends":["veo"],"max_cost_usd":0.01}`, "dev", "", "", "", "", "2"},
		{"", "dev", fuzzJobID, "", "", tp, "3"},                           // ingest
		{"", "dev", fuzzJobID, "1", "", "", "4"},                          // a reroute
		{"", "other", fuzzJobID, "", "", "", "5"},                         // another project's job
		{"", "", "00000000-0000-4000-8000-000000000000", "", "", "", "6"}, // unknown job
		{"", "dev", "../../x", "", "", "", "7"},
		{"", "dev", fuzzJobID, "0", "", "", "8"},
		{"", "dev", fuzzJobID, "+1", "", "", "9"},
		{string(valid), "", "", "", "", "", "10"},
		{string(valid), "Dev", "", "", "", "", "11"},
		{string(valid), "dev", "", "", "", "00-00000000000000000000000000000000-0000000000000000-00", "12"},
		{`{"prompt":"p"}`, "dev", "", "", "", "", "13"},
		{`{"prompt":"p","duration_seconds":5} {}`, "dev", "", "", "", "", "14"},
		{"\xff", "dev", "", "", "", "", "15"},
		// Pub/Sub carries no attribute that is not UTF-8: such a message
		// could not even be dead-lettered, and cannot arrive.
		{"0", "\xf1", "", "", "", "0", "0"},
	} {
		f.Add([]byte(s.data), s.project, s.jobID, s.attempt, s.key, s.traceparent, s.msgID)
	}
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, data []byte, project, jobID, attempt, key, traceparent, msgID string) {
		attrs := map[string]string{}
		for k, v := range map[string]string{queue.AttrProjectID: project, queue.AttrJobID: jobID, queue.AttrAttempt: attempt,
			queue.AttrIdempotencyKey: key, queue.AttrTraceParent: traceparent} {
			if v != "" {
				attrs[k] = v
			}
		}
		r, st, q := fuzzRouter(t, cat)
		m := queue.Message{ID: msgID, Data: data, Attributes: attrs, DeliveryAttempt: 1}
		if _, err := q.Publish(context.Background(), queue.TopicJobs, m); err != nil {
			return // Pub/Sub refuses to carry it (attributes too long or not UTF-8, ...): it cannot arrive
		}
		o := r.consumer.Handle(context.Background(), &m)
		require.Nil(t, o.Panic, "the router panicked")
		switch o.Verdict {
		case consumer.VerdictDeadLetter:
			require.NotEmpty(t, o.Reason)
			require.True(t, utf8.ValidString(o.Reason), "reason %q", o.Reason)
			return
		case consumer.VerdictAck:
		default:
			require.Failf(t, "message nacked", "verdict %s: %s", o.Verdict, o.Reason)
		}
		if jobID != "" {
			require.Equal(t, fuzzJobID, jobID, "a message naming an unknown job was acked")
			require.Contains(t, []string{"", "dev"}, project, "a message of project %q acked for a job of dev", project)
			return
		}
		require.True(t, job.ValidProjectID(project), "a request of project %q was accepted", project)
		if key != "" || msgID != "" {
			id := job.IDForKey(project, key)
			if key == "" {
				id = job.IDForKey(project, "pubsub:"+msgID)
			}
			j, err := st.GetJob(context.Background(), id)
			require.NoError(t, err, "the accepted request's job is not under its idempotency id")
			requireAcceptedJob(t, j, project, traceparent)
		}
	})
}

// requireAcceptedJob checks a job the router created from a job request.
func requireAcceptedJob(t *testing.T, j *job.Job, project, traceparent string) {
	t.Helper()
	require.Equal(t, project, j.ProjectID)
	require.NoError(t, j.Request.Validate())
	b, err := json.Marshal(j.Request)
	require.NoError(t, err)
	back, err := job.ParseRequest(b)
	require.NoError(t, err, "%s", b)
	require.Equal(t, j.Request, back)
	sc := trace.SpanContextFromContext(telemetry.Extract(context.Background(), map[string]string{queue.AttrTraceParent: traceparent}))
	if sc.IsValid() {
		require.Equal(t, sc.TraceID().String(), j.TraceID, "the job is not in the trace of its message")
	}
}
