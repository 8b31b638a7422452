package veo

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// googleError is the error body of Google APIs:
// {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}.
type googleError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func parseGoogleError(body []byte) (googleError, bool) {
	var e struct {
		Error *googleError `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return googleError{}, false
	}
	return *e.Error, true
}

// problem reads Google's error body: its status and message, and
// ContentSafety for a 400 whose message is a Responsible AI refusal.
func problem(r *providerhttp.Response) providerhttp.Problem {
	ge, ok := parseGoogleError(r.Body)
	if !ok {
		return providerhttp.Problem{}
	}
	p := providerhttp.Problem{Message: strings.TrimSpace(ge.Status + " " + ge.Message)}
	if r.Status == http.StatusBadRequest && safetyText(ge.Message) {
		p.Class = errclass.ContentSafety
	}
	return p
}

// rpcClass classifies a finished operation's error by its google.rpc.Code:
//
//   - a Responsible AI refusal in the message: ContentSafety;
//   - 3 INVALID_ARGUMENT, 5 NOT_FOUND, 6 ALREADY_EXISTS, 9
//     FAILED_PRECONDITION, 11 OUT_OF_RANGE, 12 UNIMPLEMENTED: Permanent;
//   - 2 UNKNOWN, 4 DEADLINE_EXCEEDED, 7 PERMISSION_DENIED, 8
//     RESOURCE_EXHAUSTED, 10 ABORTED, 13 INTERNAL, 14 UNAVAILABLE, 15
//     DATA_LOSS, 16 UNAUTHENTICATED and anything else: Retryable.
//
// 1 CANCELLED is not a failure; Poll reports it as canceled.
func rpcClass(code int, message string) error {
	if safetyText(message) {
		return errclass.ContentSafety
	}
	switch code {
	case 3, 5, 6, 9, 11, 12:
		return errclass.Permanent
	}
	return errclass.Retryable
}

// safetyText reports whether a Vertex message is a Responsible AI refusal
// ("...violates Vertex AI's usage guidelines", "...Responsible AI
// practices", "sensitive words").
func safetyText(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"responsible ai", "usage guidelines", "safety", "sensitive", "content polic"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}
