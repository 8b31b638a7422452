package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

var traceIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// traceOf returns the trace id of a W3C traceparent.
func traceOf(t *testing.T, traceparent string) string {
	t.Helper()
	parts := strings.Split(traceparent, "-")
	require.Len(t, parts, 4, "traceparent %q", traceparent)
	return parts[1]
}

func TestCreateJobRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name    string
		key     string
		body    string
		headers []string
		status  int
		code    string
		field   string
	}{
		{"missing prompt", keyA, `{"duration_seconds":5}`, nil, 400, "invalid_request", "prompt"},
		{"duration 0", keyA, `{"prompt":"fox","duration_seconds":0}`, nil, 400, "invalid_request", "duration_seconds"},
		{"duration 61", keyA, `{"prompt":"fox","duration_seconds":61}`, nil, 400, "invalid_request", "duration_seconds"},
		{"tier ultra", keyA, `{"prompt":"fox","duration_seconds":5,"quality_tier":"ultra"}`, nil, 400, "invalid_request", "quality_tier"},
		{"unknown field", keyA, `{"prompt":"fox","duration_seconds":5,"colour":"red"}`, nil, 400, "invalid_request", "colour"},
		{"deadline 59 s", keyA, `{"prompt":"fox","duration_seconds":5,"deadline_seconds":59}`, nil, 400, "invalid_request", "deadline_seconds"},
		{"deadline over a day", keyA, `{"prompt":"fox","duration_seconds":5,"deadline_seconds":86401}`, nil, 400, "invalid_request", "deadline_seconds"},
		{"4001-char prompt", keyA, fmt.Sprintf(`{"prompt":%q,"duration_seconds":5}`, strings.Repeat("a", 4001)), nil, 400, "invalid_request", "prompt"},
		{"malformed JSON", keyA, `{"prompt":"fox",`, nil, 400, "invalid_request", ""},
		{"not an object", keyA, `[1,2]`, nil, 400, "invalid_request", ""},
		{"empty body", keyA, ``, nil, 400, "invalid_request", ""},
		{"wrong type", keyA, `{"prompt":"fox","duration_seconds":"5"}`, nil, 400, "invalid_request", "duration_seconds"},
		{"unknown backend", keyA, `{"prompt":"fox","duration_seconds":5,"backends":["nope"]}`, nil, 400, "invalid_request", "backends"},
		{"2 MiB body", keyA, fmt.Sprintf(`{"prompt":%q,"duration_seconds":5}`, strings.Repeat("a", 2<<20)), nil, 413, "request_too_large", ""},
		{"empty idempotency key", keyA, validBody, []string{"Idempotency-Key", ""}, 400, "invalid_request", "Idempotency-Key"},
		{"256-char idempotency key", keyA, validBody, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_request", "Idempotency-Key"},
		{"two idempotency keys", keyA, validBody, []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, "invalid_request", "Idempotency-Key"},
		{"missing key", "", validBody, nil, 401, "unauthenticated", ""},
		{"wrong key", "not-a-key", validBody, nil, 401, "unauthenticated", ""},
		{"not bearer", "", validBody, []string{"Authorization", "Basic " + keyA}, 401, "unauthenticated", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/jobs", tt.key, tt.body, tt.headers...)
			d := requireError(t, r, tt.status, tt.code, tt.field)
			require.NotContains(t, d.Message, keyA)
			if tt.status == http.StatusUnauthorized {
				require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
			}
			// The server still serves.
			require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", "").status)
		})
	}
	// Nothing was stored or published for the rejected requests, and a good
	// request still goes through.
	require.Empty(t, e.jobsOf(projectA))
	require.Empty(t, e.q.Published(queue.TopicJobs))
	e.submit(keyA)
}

func TestCreateJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.do(http.MethodPost, "/v1/jobs", keyA,
		`{"prompt":"a red fox","duration_seconds":5,"max_cost_usd":2.5,"backends":["runway","luma"],"user_id":"alice","deadline_seconds":120,"metadata":{"campaign":"winter"}}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	j := decode[job.Job](t, r)
	require.True(t, job.ValidID(j.ID))
	require.Equal(t, "/v1/jobs/"+j.ID, r.header.Get("Location"))
	require.Equal(t, projectA, j.ProjectID)
	require.Equal(t, "alice", j.UserID)
	require.Equal(t, job.StatusQueued, j.Status)
	require.Equal(t, job.Res720p, j.Request.Resolution, "defaults applied")
	require.Equal(t, job.Aspect16x9, j.Request.AspectRatio)
	require.Equal(t, job.TierStandard, j.Request.QualityTier)
	require.Equal(t, []string{"runway", "luma"}, j.Request.Backends)
	require.Regexp(t, traceIDRE, j.TraceID)
	require.Empty(t, r.header.Get("Idempotent-Replayed"))

	// The JSON shape of DESIGN.md.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	for _, k := range []string{"id", "project_id", "status", "request", "attempts", "estimated_cost_usd", "cost_usd", "trace_id", "created_at", "updated_at"} {
		require.Contains(t, raw, k)
	}
	require.Equal(t, 2.5, raw["request"].(map[string]any)["max_cost_usd"])
	require.Equal(t, 120.0, raw["request"].(map[string]any)["deadline_seconds"])

	stored, err := e.st.GetJob(context.Background(), j.ID)
	require.NoError(t, err)
	require.Equal(t, j.TraceID, stored.TraceID)
	require.Equal(t, 120, *stored.Request.DeadlineSeconds, "the deadline is stored on the job")

	// Published once to the router, in the job's trace.
	msgs := e.q.Published(queue.TopicJobs)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, j.ID, m.Attributes[queue.AttrJobID])
	require.Equal(t, projectA, m.Attributes[queue.AttrProjectID])
	require.NotContains(t, m.Attributes, queue.AttrIdempotencyKey)
	require.Equal(t, j.TraceID, traceOf(t, m.Attributes[queue.AttrTraceParent]))
	req, err := job.ParseRequest(m.Data)
	require.NoError(t, err, "the router can decode the data strictly")
	require.Equal(t, j.Request, req)

	// The timeline starts with the ingest event, in the job's trace.
	ev := e.do(http.MethodGet, "/v1/jobs/"+j.ID+"/events", keyA, "")
	require.Equal(t, http.StatusOK, ev.status)
	events := decode[api.EventList](t, ev).Events
	require.Len(t, events, 1)
	require.Equal(t, "ingest", events[0].Stage)
	require.Equal(t, "accepted", events[0].Type)
	require.Equal(t, j.TraceID, events[0].TraceID)
	require.Regexp(t, `^[0-9a-f]{16}$`, events[0].SpanID)

	// GET returns the same job.
	got := e.do(http.MethodGet, "/v1/jobs/"+j.ID, keyA, "")
	require.Equal(t, http.StatusOK, got.status)
	require.Equal(t, j.ID, decode[job.Job](t, got).ID)
}

func TestEveryJobHasItsOwnTrace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// One caller trace submits two jobs: each job gets a trace of its own
	// (linked to the caller's span), so a job's trace holds only that job.
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	j1 := e.submit(keyA, "traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	j2 := e.submit(keyA, "traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	require.Regexp(t, `^[0-9a-f]{32}$`, j1.TraceID)
	require.NotEqual(t, tid, j1.TraceID)
	require.NotEqual(t, j1.TraceID, j2.TraceID)
	msgs := e.q.Published(queue.TopicJobs)
	require.Len(t, msgs, 2)
	require.Equal(t, j1.TraceID, traceOf(t, msgs[0].Attributes[queue.AttrTraceParent]))
	require.Equal(t, j2.TraceID, traceOf(t, msgs[1].Attributes[queue.AttrTraceParent]))
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first := e.submit(keyA, "Idempotency-Key", "order-42")
	require.Equal(t, job.IDForKey(projectA, "order-42"), first.ID)

	// The retry runs in another trace (its caller's).
	r := e.do(http.MethodPost, "/v1/jobs", keyA, validBody,
		"Idempotency-Key", "order-42", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	second := decode[job.Job](t, r)
	require.Equal(t, first.ID, second.ID)
	require.Equal(t, first.TraceID, second.TraceID, "the job keeps the trace of its creation")
	require.Equal(t, first.CreatedAt, second.CreatedAt)
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
	require.Len(t, e.jobsOf(projectA), 1, "one job stored")

	// Published (again: the job is still queued), always about that job and
	// always in the job's trace.
	msgs := e.q.Published(queue.TopicJobs)
	require.Len(t, msgs, 2)
	for _, m := range msgs {
		require.Equal(t, first.ID, m.Attributes[queue.AttrJobID])
		require.Equal(t, "order-42", m.Attributes[queue.AttrIdempotencyKey])
		require.Equal(t, first.TraceID, traceOf(t, m.Attributes[queue.AttrTraceParent]))
	}

	// Once the router took the job, a retry does not publish it again.
	_, err := storetest.UpdateJob(context.Background(), e.st, first.ID, func(j *job.Job) error {
		return j.Transition(job.StatusDispatched, e.clock.Now())
	})
	require.NoError(t, err)
	before := len(e.q.Published(queue.TopicJobs))
	third := e.submit(keyA, "Idempotency-Key", "order-42")
	require.Equal(t, job.StatusDispatched, third.Status)
	require.Len(t, e.q.Published(queue.TopicJobs), before)

	// The same key in another project names another job.
	other := e.submit(keyB, "Idempotency-Key", "order-42")
	require.NotEqual(t, first.ID, other.ID)
	require.Equal(t, projectB, other.ProjectID)
	require.Len(t, e.jobsOf(projectB), 1)
}

func TestPublishFailure(t *testing.T) {
	t.Parallel()

	t.Run("with idempotency key the job stays queued", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.pub.setFailing(true)
		r := e.do(http.MethodPost, "/v1/jobs", keyA, validBody, "Idempotency-Key", "k1")
		d := requireError(t, r, http.StatusServiceUnavailable, "unavailable", "")
		require.Contains(t, d.Message, "Idempotency-Key")
		jobs := e.jobsOf(projectA)
		require.Len(t, jobs, 1)
		require.Equal(t, job.StatusQueued, jobs[0].Status)

		// The retry with the same key publishes it.
		e.pub.setFailing(false)
		j := e.submit(keyA, "Idempotency-Key", "k1")
		require.Equal(t, jobs[0].ID, j.ID)
		msgs := e.q.Published(queue.TopicJobs)
		require.Len(t, msgs, 1)
		require.Equal(t, j.ID, msgs[0].Attributes[queue.AttrJobID])
	})

	t.Run("without idempotency key the job is not left queued", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.pub.setFailing(true)
		r := e.do(http.MethodPost, "/v1/jobs", keyA, validBody)
		requireError(t, r, http.StatusServiceUnavailable, "unavailable", "")
		jobs := e.jobsOf(projectA)
		require.Len(t, jobs, 1)
		require.Equal(t, job.StatusCanceled, jobs[0].Status)
		require.Equal(t, job.CodeCanceled, jobs[0].Error.Code)
		require.NotNil(t, jobs[0].CompletedAt)
	})
}

func TestProjectIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.submit(keyA)
	absent := job.NewID()

	notFound := func(method, path string) api.ErrorDetail {
		t.Helper()
		return requireError(t, e.do(method, path, keyB, ""), http.StatusNotFound, "not_found", "")
	}
	// Another project's job answers exactly like an absent one.
	foreign := notFound(http.MethodGet, "/v1/jobs/"+a.ID)
	missing := notFound(http.MethodGet, "/v1/jobs/"+absent)
	require.Equal(t, strings.ReplaceAll(missing.Message, absent, a.ID), foreign.Message)
	notFound(http.MethodGet, "/v1/jobs/"+a.ID+"/events")
	notFound(http.MethodPost, "/v1/jobs/"+a.ID+"/cancel")
	notFound(http.MethodGet, "/v1/jobs/not-a-job-id")
	notFound(http.MethodPost, "/v1/jobs/not-a-job-id/cancel")

	list := decode[api.JobList](t, e.do(http.MethodGet, "/v1/jobs", keyB, ""))
	require.Empty(t, list.Jobs)

	// The cancel attempt changed nothing.
	stored, err := e.st.GetJob(context.Background(), a.ID)
	require.NoError(t, err)
	require.Equal(t, job.StatusQueued, stored.Status)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []string // oldest first
	for range 5 {
		ids = append(ids, e.submit(keyA).ID)
	}
	e.submit(keyB) // another project's job is never listed
	for _, id := range []string{ids[1], ids[3]} {
		require.Equal(t, http.StatusOK, e.do(http.MethodPost, "/v1/jobs/"+id+"/cancel", keyA, "").status)
	}

	// Newest first, two at a time.
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		path := "/v1/jobs?limit=2"
		if token != "" {
			path += "&page_token=" + token
		}
		r := e.do(http.MethodGet, path, keyA, "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var raw map[string]any
		require.NoError(t, json.Unmarshal(r.body, &raw))
		require.Contains(t, raw, "next_page_token", "the key is always present")
		page := decode[api.JobList](t, r)
		require.LessOrEqual(t, len(page.Jobs), 2)
		for _, j := range page.Jobs {
			require.Equal(t, projectA, j.ProjectID)
			got = append(got, j.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, got)

	// Status filter.
	canceled := decode[api.JobList](t, e.do(http.MethodGet, "/v1/jobs?status=canceled", keyA, ""))
	require.Len(t, canceled.Jobs, 2)
	require.Equal(t, ids[3], canceled.Jobs[0].ID)
	require.Equal(t, ids[1], canceled.Jobs[1].ID)
	require.Empty(t, canceled.NextPageToken)
	queued := decode[api.JobList](t, e.do(http.MethodGet, "/v1/jobs?status=queued&limit=500", keyA, ""))
	require.Len(t, queued.Jobs, 3)

	// Bad parameters name themselves.
	for _, tt := range []struct{ query, field string }{
		{"status=done", "status"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=two", "limit"},
		{"page_token=%21%21garbage", "page_token"},
	} {
		requireError(t, e.do(http.MethodGet, "/v1/jobs?"+tt.query, keyA, ""), http.StatusBadRequest, "invalid_request", tt.field)
	}
	requireError(t, e.do(http.MethodGet, "/v1/jobs", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.submit(keyA)

	r := e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	canceled := decode[job.Job](t, r)
	require.Equal(t, job.StatusCanceled, canceled.Status)
	require.NotNil(t, canceled.Error)
	require.Equal(t, job.CodeCanceled, canceled.Error.Code)
	require.NotNil(t, canceled.CompletedAt)

	stored, err := e.st.GetJob(context.Background(), j.ID)
	require.NoError(t, err)
	require.Equal(t, job.StatusCanceled, stored.Status)

	// The timeline records it; the notifier hears of it, in the job's trace.
	events := decode[api.EventList](t, e.do(http.MethodGet, "/v1/jobs/"+j.ID+"/events", keyA, "")).Events
	require.Len(t, events, 2)
	require.Equal(t, "canceled", events[1].Type)
	msgs := e.q.Published(queue.TopicEvents)
	require.Len(t, msgs, 1)
	le, err := dispatch.DecodeLifecycle(msgs[0].Data)
	require.NoError(t, err, "the notifier decodes it")
	require.Equal(t, j.ID, le.JobID)
	require.Equal(t, projectA, le.ProjectID)
	require.Equal(t, job.StatusCanceled, le.Status)
	require.Equal(t, job.CodeCanceled, le.Error.Code)
	require.Equal(t, j.ID, msgs[0].Attributes[queue.AttrJobID])
	require.Equal(t, j.TraceID, traceOf(t, msgs[0].Attributes[queue.AttrTraceParent]))

	// A terminal job cannot be canceled again.
	d := requireError(t, e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, ""), http.StatusConflict, "conflict", "")
	require.Contains(t, d.Message, "canceled")
	require.Len(t, e.q.Published(queue.TopicEvents), 1)
}

func TestCancelJobLifecyclePublishIsBestEffort(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.submit(keyA)
	e.pub.setFailing(true)
	r := e.do(http.MethodPost, "/v1/jobs/"+j.ID+"/cancel", keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, job.StatusCanceled, decode[job.Job](t, r).Status)
}
