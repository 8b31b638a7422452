package runway_test

import (
	"net/http"
	"testing"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/job"
)

// FuzzAnswers gives the adapter any answer of Runway's API to a task
// creation, read or cancel (backendtest.Fuzz).
func FuzzAnswers(f *testing.F) {
	task := func(fields string) backendtest.Answer {
		return backendtest.OK(`{"id":"` + taskID + `","createdAt":"2024-06-27T19:49:32.334Z",` + fields + `}`)
	}
	ops := []backendtest.FuzzOp{backendtest.FuzzSubmit, backendtest.FuzzPoll, backendtest.FuzzCancel}
	seeds := backendtest.Seeds(ops[:2], backendtest.Answer{},
		task(`"status":"PENDING"`), task(`"status":"THROTTLED"`), task(`"status":"RUNNING","progress":0.4`),
		task(`"status":"RUNNING","progress":-1e308`), task(`"status":"SUCCEEDED","output":["https://dnznrvs05pmza.cloudfront.net/output.mp4?_jwt=..."]`),
		task(`"status":"SUCCEEDED","output":[""]`), task(`"status":"FAILED","failure":"Content moderation failed.","failureCode":"SAFETY.INPUT.TEXT"`),
		task(`"status":"FAILED","failureCode":"ASSET.INVALID"`), task(`"status":"FAILED","failureCode":""`), task(`"status":"CANCELLED"`),
		task(`"status":"NEW"`), backendtest.OK(`{"id":"../x"}`), backendtest.OK(`[]`), backendtest.OK(`null`))
	seeds = append(seeds, backendtest.Seeds(ops, task(`"status":"PENDING"`),
		backendtest.ErrorAnswers(func(msg string) string { return `{"error":"` + msg + `"}` })...)...)
	backendtest.Fuzz(f, backendtest.FuzzHarness{
		NewBackend: func(c *http.Client) (backend.Backend, error) {
			return runway.New(runway.Config{Endpoint: "https://api.dev.runwayml.test", APIKey: backendtest.Key, HTTPClient: c})
		},
		Request: backend.SubmitRequest{JobID: "job-1", Attempt: 1, Model: "veo3.1_fast", DurationSeconds: 4, Prompt: "a fox",
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9},
		Handle: taskID,
		Seeds:  seeds,
	})
}
