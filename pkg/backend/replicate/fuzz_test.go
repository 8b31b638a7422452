package replicate_test

import (
	"net/http"
	"testing"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/replicate"
	"github.com/aiprod/aiprod/pkg/job"
)

// FuzzAnswers gives the adapter any answer of Replicate's API to a
// prediction's creation, read, cancel or listing (backendtest.Fuzz).
func FuzzAnswers(f *testing.F) {
	ok := func(fields string) backendtest.Answer { return backendtest.OK(pred(fields)) }
	ops := []backendtest.FuzzOp{backendtest.FuzzSubmit, backendtest.FuzzPoll, backendtest.FuzzCancel, backendtest.FuzzFind}
	seeds := backendtest.Seeds(ops[:2], backendtest.Answer{},
		backendtest.Answer{Status: http.StatusCreated, Body: []byte(docCreate)}, ok(`"status":"processing"`),
		ok(`"status":"succeeded","output":"https://replicate.delivery/xezq/output.mp4","metrics":{"predict_time":41.2}`),
		ok(`"status":"succeeded","output":["","https://replicate.delivery/a.mp4"]`), ok(`"status":"succeeded","output":{"video":"https://x/v.mp4"}`),
		ok(`"status":"succeeded","output":null`), ok(`"status":"succeeded","output":42`),
		ok(`"status":"failed","error":"The input or output was flagged as sensitive. Please try again with different inputs. (E005)"`),
		ok(`"status":"failed","error":{"detail":"invalid"}`), ok(`"status":"canceled","started_at":"2026-11-25T12:00:01Z"`),
		ok(`"status":"canceled","started_at":null`), ok(`"status":"aborted"`), ok(`"status":"queued"`),
		backendtest.OK(`{"id":"a/b","status":"starting","input":{"duration":"six"}}`), backendtest.OK(`{"id":"x","input":{"duration":1e400}}`))
	seeds = append(seeds, backendtest.Seeds(ops[3:], backendtest.OK(`{"next":null,"results":[]}`),
		backendtest.OK(`{"next":null,"results":[`+pred(`"status":"processing"`)+`]}`),
		backendtest.OK(`{"next":"https://api.replicate.com/v1/predictions?cursor=cD0yMDI2","results":[`+pred(`"status":"succeeded"`)+`]}`),
		backendtest.OK(`{"next":"::not a url","results":[]}`),
		backendtest.OK(`{"next":null,"results":[{"id":"x","created_at":"soon","model":"google/veo-3.1-fast"}]}`))...)
	seeds = append(seeds, backendtest.Seeds(ops, ok(`"status":"starting"`),
		backendtest.ErrorAnswers(func(msg string) string { return `{"title":"Error","detail":"` + msg + `","status":400}` })...)...)
	seeds = append(seeds, backendtest.Seeds(ops[:1], backendtest.Answer{},
		backendtest.Answer{Status: http.StatusTooManyRequests, Body: []byte(`{"detail":"Request was throttled. Your rate limit resets in ~30s."}`)},
		backendtest.Answer{Status: http.StatusUnprocessableEntity, Body: []byte(`{"title":"Input validation failed","detail":"NSFW content detected"}`)})...)
	backendtest.Fuzz(f, backendtest.FuzzHarness{
		NewBackend: func(c *http.Client) (backend.Backend, error) {
			return replicate.New(replicate.Config{Endpoint: "https://api.replicate.test", APIKey: backendtest.Key, HTTPClient: c})
		},
		Request: backend.SubmitRequest{JobID: "job-1", Attempt: 1, Model: "google/veo-3.1-fast", DurationSeconds: 6, Prompt: "a fox",
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9},
		Handle: predID,
		Seeds:  seeds,
	})
}
