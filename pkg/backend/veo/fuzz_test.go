package veo_test

import (
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/backendtest"
	"github.com/aiprod/aiprod/pkg/backend/veo"
	"github.com/aiprod/aiprod/pkg/job"
)

// FuzzAnswers gives the adapter any answer of Vertex AI to a
// predictLongRunning or fetchPredictOperation call (backendtest.Fuzz).
func FuzzAnswers(f *testing.F) {
	ops := []backendtest.FuzzOp{backendtest.FuzzSubmit, backendtest.FuzzPoll, backendtest.FuzzCancel}
	seeds := backendtest.Seeds(ops[:2], backendtest.Answer{},
		backendtest.OK(docStarted), backendtest.OK(`{"name":"`+opName+`","done":false}`), backendtest.OK(docDone),
		backendtest.OK(done(`"error":{"code":3,"message":"Unsupported output video duration 5 seconds."}`)),
		backendtest.OK(done(`"error":{"code":1,"message":"cancelled"}`)), backendtest.OK(done(`"error":{"code":0,"message":""}`)),
		backendtest.OK(done(`"response":{"raiMediaFilteredCount":"1","raiMediaFilteredReasons":["sensitive words"]}`)),
		backendtest.OK(done(`"response":{"raiMediaFilteredCount":"x"}`)), backendtest.OK(done(`"response":{"raiMediaFilteredCount":1e30}`)),
		backendtest.OK(done(`"response":{"videos":[{"bytesBase64Encoded":"AAAA","mimeType":"video/mp4"}]}`)),
		backendtest.OK(done(`"response":null`)), backendtest.OK(`{"name":"projects/p/x"}`))
	seeds = append(seeds, backendtest.Seeds(ops, backendtest.OK(docStarted),
		backendtest.ErrorAnswers(func(msg string) string {
			return `{"error":{"code":400,"message":"` + msg + `","status":"INVALID_ARGUMENT"}}`
		})...)...)
	seeds = append(seeds, backendtest.Seeds(ops[:1], backendtest.Answer{}, backendtest.Answer{Status: http.StatusBadRequest,
		Body: []byte(`{"error":{"code":400,"message":"The prompt could not be submitted. It violates Vertex AI's usage guidelines.","status":"INVALID_ARGUMENT"}}`)})...)
	backendtest.Fuzz(f, backendtest.FuzzHarness{
		NewBackend: func(c *http.Client) (backend.Backend, error) {
			return veo.New(veo.Config{Endpoint: "https://us-central1-aiplatform.test", Project: "aiprod-test", Location: "us-central1",
				StorageURI: storage, TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: backendtest.Key}), HTTPClient: c})
		},
		Request: backend.SubmitRequest{JobID: "job-1", Attempt: 1, Model: "veo-3.1-fast-generate-001", DurationSeconds: 8, Prompt: "a fox",
			Resolution: job.Res1080p, AspectRatio: job.Aspect16x9},
		Handle: opName,
		Seeds:  seeds,
	})
}
