package fal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/fal"
	"github.com/aiprod/aiprod/pkg/job"
)

// FuzzAnswers gives the adapter any answer of fal's queue to a
// submission, a cancel, or a poll: the status call and, after it, the
// result call (backendtest.Fuzz).
func FuzzAnswers(f *testing.F) {
	const base = "https://queue.fal.test"
	doc := func(s string) string { return strings.ReplaceAll(s, "{{base}}", base) }
	ok := func(body string) backendtest.Answer { return backendtest.OK(doc(body)) }
	root := base + "/fal-ai/veo3.1/requests/" + reqID
	handle := backend.Handle(`{"request_id":"` + reqID + `","model":"fal-ai/veo3.1/fast","status_url":"` + root + `/status","response_url":"` +
		root + `","cancel_url":"` + root + `/cancel","duration_seconds":8}`)
	poll := []backendtest.FuzzOp{backendtest.FuzzPoll}
	problem := func(msg string) string { return `{"detail":"` + msg + `"}` }
	seeds := backendtest.Seeds([]backendtest.FuzzOp{backendtest.FuzzSubmit}, backendtest.Answer{},
		ok(docSubmit), ok(`{"request_id":"`+reqID+`","status_url":"https://evil.test/steal"}`), ok(`{"request_id":"a/../b"}`),
		ok(`{"status":"IN_QUEUE"}`), backendtest.Answer{Status: http.StatusUnprocessableEntity, Body: []byte(docPolicy)})
	seeds = append(seeds, backendtest.Seeds(poll, backendtest.Answer{},
		ok(docInQueue), ok(docRunning), ok(`{"status":"CANCELLED"}`), ok(`{"status":"FAILED","error":"boom","error_type":"runner_disconnected"}`),
		ok(`{"status":"FAILED"}`), ok(`{"status":"paused"}`))...)
	for _, result := range []backendtest.Answer{
		ok(docResult), ok(`{"videos":[{"url":""},{"url":"https://v3.fal.media/b.mp4"}]}`), ok(`{"video":null}`), ok(`{"video":{"url":7}}`),
		{Status: http.StatusUnprocessableEntity, Body: []byte(docPolicy)}, {Status: http.StatusBadRequest, Body: []byte(docBadImage)},
		{Status: http.StatusInternalServerError, Header: http.Header{"X-Fal-Error-Type": {"generation_timeout"}}, Body: []byte(problem("timeout"))},
		{Status: http.StatusInternalServerError, Body: []byte(`{"detail":"x","error_type":"request_cancelled"}`)},
		{Status: http.StatusNotFound, Body: []byte(problem("Request not found"))},
	} {
		seeds = append(seeds, backendtest.FuzzSeed{Op: backendtest.FuzzPoll, First: ok(docCompleted), Then: result},
			backendtest.FuzzSeed{Op: backendtest.FuzzPoll, First: ok(`{"status":"COMPLETED","error":"x","error_type":"content_policy_violation"}`), Then: result})
	}
	seeds = append(seeds, backendtest.Seeds([]backendtest.FuzzOp{backendtest.FuzzCancel}, backendtest.Answer{},
		ok(`{"status":"CANCELLATION_REQUESTED"}`), backendtest.Answer{Status: http.StatusBadRequest, Body: []byte(`{"status":"ALREADY_COMPLETED"}`)})...)
	seeds = append(seeds, backendtest.Seeds([]backendtest.FuzzOp{backendtest.FuzzSubmit, backendtest.FuzzPoll, backendtest.FuzzCancel},
		ok(docResult), backendtest.ErrorAnswers(problem)...)...)
	seeds = append(seeds, backendtest.FuzzSeed{Op: backendtest.FuzzPoll, First: ok(docInQueue), Handle: `{"request_id":"x","status_url":"https://evil.test/"}`},
		backendtest.FuzzSeed{Op: backendtest.FuzzCancel, First: ok(docInQueue), Handle: `not json`})
	backendtest.Fuzz(f, backendtest.FuzzHarness{
		NewBackend: func(c *http.Client) (backend.Backend, error) {
			return fal.New(fal.Config{Endpoint: base, APIKey: backendtest.Key, HTTPClient: c})
		},
		Request: backend.SubmitRequest{JobID: "job-1", Attempt: 1, Model: "fal-ai/veo3.1/fast", DurationSeconds: 8, Prompt: "a fox",
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9},
		Handle: handle,
		Seeds:  seeds,
	})
}
