package luma_test

import (
	"net/http"
	"testing"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/luma"
	"github.com/aiprod/aiprod/pkg/job"
)

// FuzzAnswers gives the adapter any answer of Dream Machine's API to a
// generation's creation, read, deletion or listing (backendtest.Fuzz).
func FuzzAnswers(f *testing.F) {
	gen := func(fields string) backendtest.Answer {
		return backendtest.OK(`{"id":"` + genID + `","generation_type":"video","created_at":"2026-11-25T12:00:05.327Z",` + fields + `}`)
	}
	listed := func(created, prompt string) string {
		return `{"id":"` + genID + `","created_at":"` + created + `","model":"ray-2","request":{"model":"ray-2","prompt":"` + prompt +
			`","aspect_ratio":"16:9","duration":"5s","resolution":"720p"}}`
	}
	ops := []backendtest.FuzzOp{backendtest.FuzzSubmit, backendtest.FuzzPoll, backendtest.FuzzCancel, backendtest.FuzzFind}
	seeds := backendtest.Seeds(ops[:2], backendtest.Answer{},
		gen(`"state":"queued"`), gen(`"state":"dreaming"`), backendtest.OK(completedBody),
		gen(`"state":"completed","assets":{"video":""},"request":{"duration":"-5s"}`),
		gen(`"state":"completed","assets":{"video":"https://storage.cdn-luma.com/v.mp4"},"request":{"duration":9}`),
		gen(`"state":"failed","failure_reason":"Advanced prompt moderation failed"`), gen(`"state":"failed","failure_reason":null`),
		gen(`"state":"failed","failure_code":"content_moderated","failure_reason":"x"`), gen(`"state":"paused"`),
		backendtest.OK(`{"id":""}`), backendtest.OK(`"string"`))
	seeds = append(seeds, backendtest.Seeds(ops[3:], backendtest.OK(`{"generations":[],"has_more":false}`),
		backendtest.OK(`{"generations":[`+listed("2026-11-25T12:00:05Z", "a fox")+`],"has_more":false}`),
		backendtest.OK(`{"generations":[`+listed("2026-11-25T12:00:05Z", "a fox")+`,`+listed("2026-11-25T12:00:06Z", "a fox")+`],"has_more":true}`),
		backendtest.OK(`{"generations":[`+listed("2026-11-25T11:00:00Z", "a fox")+`],"has_more":true}`),
		backendtest.OK(`{"generations":[`+listed("yesterday", "a fox")+`],"has_more":false}`),
		backendtest.OK(`{"generations":[{"id":""}],"has_more":true}`))...)
	seeds = append(seeds, backendtest.Seeds(ops, gen(`"state":"queued"`),
		backendtest.ErrorAnswers(func(msg string) string { return `{"detail":"` + msg + `"}` })...)...)
	seeds = append(seeds, backendtest.Seeds(ops[:1], backendtest.Answer{}, backendtest.Answer{Status: http.StatusUnprocessableEntity,
		Body: []byte(`{"detail":[{"loc":["body","duration"],"msg":"Input should be '5s' or '9s'","type":"literal_error"}]}`)})...)
	backendtest.Fuzz(f, backendtest.FuzzHarness{
		NewBackend: func(c *http.Client) (backend.Backend, error) {
			return luma.New(luma.Config{Endpoint: "https://api.lumalabs.test/dream-machine/v1", APIKey: backendtest.Key, HTTPClient: c})
		},
		Request: backend.SubmitRequest{JobID: "job-1", Attempt: 1, Model: "ray-2", DurationSeconds: 5, Prompt: "a fox",
			Resolution: job.Res720p, AspectRatio: job.Aspect16x9},
		Handle: genID,
		Seeds:  seeds,
	})
}
