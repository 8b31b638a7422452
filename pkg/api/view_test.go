package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Values of the stored job's internal fields, which no answer may show.
const (
	secretHandle = `{"id":"gen-internal-handle"}`
	secretKey    = "idempotency-key-internal"
)

// internalNames are the JSON names of job.Job's and job.Attempt's internal
// fields.
var internalNames = []string{"handle", "reserved_usd", "last_progress_at", "retry_at", "not_before",
	"idempotency_key", "excluded_backends", "redrives", "redriven_at"}

// fullJob is a job of projectA with every field set, internal ones too:
// not a job the system would make (it has a result and an error), a
// fixture in which no field of the JSON can hide behind a zero value.
func fullJob(t *testing.T, id string, status job.Status) *job.Job {
	t.Helper()
	at := func(s int) *time.Time {
		v := time.Date(2026, 11, 25, 10, 0, s, 0, time.UTC)
		return &v
	}
	limit, deadline := money.MustParse("2.5"), 900
	req := job.Request{
		Prompt: "a red fox running through snow, cinematic", DurationSeconds: 5, Resolution: job.Res1080p,
		AspectRatio: job.Aspect9x16, QualityTier: job.TierPremium, ImageURL: "https://example.com/first-frame.png",
		Audio: true, MaxCostUSD: &limit, Backends: []string{"runway", "luma"}, UserID: "alice",
		WebhookURL: "https://example.com/hooks/video", DeadlineSeconds: &deadline, Metadata: map[string]string{"campaign": "winter"},
	}
	attempt := func(n int, backend string, status job.AttemptStatus, cost string) job.Attempt {
		c := money.MustParse(cost)
		return job.Attempt{
			Number: n, Backend: backend, Model: backend + "-model", Status: status, Handle: secretHandle,
			Error:         &job.ErrorInfo{Code: job.CodeBackendUnavailable, Message: backend + " answered 503"},
			EstimatedCost: money.MustParse("0.25"), Reserved: money.MustParse("0.25"), Cost: c,
			StartedAt: *at(n * 10), SubmittedAt: at(n*10 + 1), EndedAt: at(n*10 + 8), LastProgressAt: at(n*10 + 5),
			DurationSeconds: 6, RetryAt: at(n*10 + 9), NotBefore: at(n*10 + 2),
		}
	}
	j := job.New(id, projectA, req, *at(0))
	j.Status, j.Backend, j.TraceID = status, "runway", "4bf92f3577b34da6a3ce929d0e0e4736"
	j.Attempts = []job.Attempt{attempt(1, "luma", job.AttemptFailed, "0.05"), attempt(2, "runway", job.AttemptSucceeded, "0.123457")}
	j.EstimatedCost, j.Cost = money.MustParse("0.25"), money.MustParse("0.173457")
	j.Result = &job.Result{VideoURL: "https://storage.example.com/v.mp4", DurationSeconds: 6}
	j.Error = &job.ErrorInfo{Code: job.CodeBackendFailed, Message: "every backend failed"}
	j.IdempotencyKey, j.ExcludedBackends, j.Redrives, j.RedrivenAt = secretKey, []string{"luma"}, 2, at(40)
	j.UpdatedAt = *at(30)
	if status.Terminal() {
		j.CompletedAt = at(30)
	}
	return j
}

// putFullJob stores fullJob with a complete event.
func (e *env) putFullJob(id string, status job.Status) *job.Job {
	e.t.Helper()
	j := fullJob(e.t, id, status)
	require.NoError(e.t, e.st.RunTx(context.Background(), func(tx store.Tx) error {
		if err := tx.CreateJob(j); err != nil {
			return err
		}
		return tx.AddEvent(j.ID, store.Event{At: j.CreatedAt, Stage: "worker", Type: "attempt_failed", Backend: "luma",
			Attempt: 1, Message: "luma answered 503", TraceID: j.TraceID, SpanID: "00f067aa0ba902b7"})
	}))
	return j
}

// strictDecode decodes body into v, refusing any field v does not have.
func strictDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "the SDK's type has every field of %s", body)
}

// requireAllSet fails for every zero field, empty slice or empty map in v.
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		require.False(t, v.Interface().(time.Time).IsZero(), "%s is set", path)
	case v.Kind() == reflect.Pointer:
		require.False(t, v.IsNil(), "%s is set", path)
		requireAllSet(t, v.Elem(), path)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			requireAllSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Map:
		require.NotZero(t, v.Len(), "%s is not empty", path)
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				requireAllSet(t, v.Index(i), path+"[]")
			}
		}
	default:
		require.False(t, v.IsZero(), "%s is set", path)
	}
}

// TestJobJSONIsTheSDKShape: the JSON of a job with every field set
// decodes into the SDK's types with unknown fields refused, fills every
// field of them, and encodes back to the same JSON (what the CLI prints is
// what the API sent). So the SDK reads all the API says and nothing else.
func TestJobJSONIsTheSDKShape(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.putFullJob(job.NewID(), job.StatusSucceeded)

	r := e.do(http.MethodGet, "/v1/jobs/"+j.ID, keyA, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var got client.Job
	strictDecode(t, r.body, &got)
	requireAllSet(t, reflect.ValueOf(got), "Job")
	again, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(r.body), string(again))
	require.Equal(t, api.PublicJob(j), got)

	// DESIGN's values: money as USD numbers with six decimals at most.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.Equal(t, 0.173457, raw["cost_usd"])
	require.Equal(t, 2.5, raw["request"].(map[string]any)["max_cost_usd"])
	require.Equal(t, 900.0, raw["request"].(map[string]any)["deadline_seconds"], "stored on the job, shown in its request")
	a := raw["attempts"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"code": "backend_unavailable", "message": "luma answered 503"}, a["error"])
	require.Equal(t, "2026-11-25T10:00:18Z", a["ended_at"])

	var list client.JobList
	strictDecode(t, e.do(http.MethodGet, "/v1/jobs", keyA, "").body, &list)
	require.Equal(t, []client.Job{got}, list.Jobs)

	var events client.EventList
	strictDecode(t, e.do(http.MethodGet, "/v1/jobs/"+j.ID+"/events", keyA, "").body, &events)
	require.Len(t, events.Events, 1)
	requireAllSet(t, reflect.ValueOf(events.Events[0]), "Event")
}

// TestJobJSONHidesInternals: no answer that holds a job shows the stored
// record's internal fields (providers' handles, reservations, retry and
// progress timing, the idempotency key, excluded backends, redrives) —
// not GET, the list, cancel, nor a replayed POST.
func TestJobJSONHidesInternals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	done := e.putFullJob(job.NewID(), job.StatusSucceeded)
	running := e.putFullJob(job.NewID(), job.StatusRunning)
	keyed := e.putFullJob(job.IDForKey(projectA, secretKey), job.StatusQueued)

	answers := map[string]resp{
		"get":    e.do(http.MethodGet, "/v1/jobs/"+done.ID, keyA, ""),
		"list":   e.do(http.MethodGet, "/v1/jobs", keyA, ""),
		"cancel": e.do(http.MethodPost, "/v1/jobs/"+running.ID+"/cancel", keyA, ""),
		"replay": e.do(http.MethodPost, "/v1/jobs", keyA, validBody, api.HeaderIdempotencyKey, secretKey),
		"events": e.do(http.MethodGet, "/v1/jobs/"+done.ID+"/events", keyA, ""),
	}
	for name, r := range answers {
		require.Less(t, r.status, 300, "%s: %s", name, r.body)
		for _, secret := range []string{secretHandle, secretKey} {
			require.NotContains(t, string(r.body), jsonText(t, secret), name)
		}
		keys := map[string]bool{}
		collectKeys(t, r.body, keys)
		for _, k := range internalNames {
			require.NotContains(t, keys, k, "%s shows %q: %s", name, k, r.body)
		}
	}
	// The replay is the stored job, not a new one.
	var replayed client.Job
	strictDecode(t, answers["replay"].body, &replayed)
	require.Equal(t, keyed.ID, replayed.ID)
}

// jsonText is s as it stands inside a JSON string.
func jsonText(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return strings.Trim(string(b), `"`)
}

// collectKeys adds every object key of the JSON body, at any depth, to keys.
func collectKeys(t *testing.T, body []byte, keys map[string]bool) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
}

// TestPublicJob: the public job applies the request's defaults (a job
// published straight to Pub/Sub is stored as the router decoded it) and
// shares no memory with the stored job.
func TestPublicJob(t *testing.T) {
	t.Parallel()
	j := job.New(job.NewID(), projectA, job.Request{Prompt: "p", DurationSeconds: 5, Backends: []string{"luma"}},
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	v := api.PublicJob(j)
	require.Equal(t, job.Res720p, v.Request.Resolution)
	require.Equal(t, job.Aspect16x9, v.Request.AspectRatio)
	require.Equal(t, job.TierStandard, v.Request.QualityTier)
	require.NotNil(t, v.Attempts, "attempts are [] in JSON, never null")
	require.Nil(t, v.Result)
	require.Nil(t, v.Error)
	require.Nil(t, v.CompletedAt)

	v.Request.Backends[0] = "veo"
	require.Equal(t, "luma", j.Request.Backends[0])
	require.Empty(t, j.Request.Resolution, "the stored job is not changed")

	b, err := json.Marshal(v)
	require.NoError(t, err)
	keys := map[string]bool{}
	collectKeys(t, b, keys)
	for _, k := range []string{"result", "error", "completed_at", "backend", "user_id"} {
		require.NotContains(t, keys, k, "absent while unset")
	}
}
