package replicate

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// problem reads Replicate's error body, an RFC 7807 problem ({"title",
// "detail", "status"}); a body without one is quoted as it is. A 422 whose
// text is a safety refusal is ContentSafety, and a 429 carries the "resets
// in ~Ns" of its detail, used when the Retry-After header is missing.
func problem(r *providerhttp.Response) providerhttp.Problem {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(r.Body, &p)
	var out providerhttp.Problem
	switch {
	case p.Title == "" || strings.Contains(p.Detail, p.Title):
		out.Message = p.Detail
	case p.Detail == "":
		out.Message = p.Title
	default:
		out.Message = p.Title + ": " + p.Detail
	}
	switch r.Status {
	case http.StatusUnprocessableEntity:
		if safetyText(out.Message) {
			out.Class = errclass.ContentSafety
		}
	case http.StatusTooManyRequests:
		out.RetryAfter = resetsIn(out.Message)
	}
	return out
}

var resetsRE = regexp.MustCompile(`resets in ~?\s*(\d+)\s*s`)

// resetsIn reads "Your rate limit resets in ~30s." from a 429 detail.
func resetsIn(msg string) time.Duration {
	m := resetsRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// failureClass classifies the error text of a failed prediction. Replicate
// has no machine-readable failure type, only messages with a code in
// parentheses (https://replicate.com/docs/reference/error-codes):
//
//   - safety: "The input or output was flagged as sensitive. Please try
//     again with different inputs. (E005)" — what the Veo models return when
//     Google's filter refuses (E005 is not in Replicate's published list;
//     it is what users of these models report) — or any NSFW / safety /
//     content-policy wording: ContentSafety;
//   - input errors ("invalid", "must be", "not supported"): Permanent;
//   - anything else (E1000 unknown, E1001 out of memory, E6716 timeout
//     starting, interrupted runs): Retryable.
func failureClass(msg string) error {
	m := strings.ToLower(msg)
	if safetyText(m) {
		return errclass.ContentSafety
	}
	for _, s := range []string{"invalid", "must be", "not supported", "unsupported", "validation"} {
		if strings.Contains(m, s) {
			return errclass.Permanent
		}
	}
	return errclass.Retryable
}

func safetyText(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"(e005)", "flagged as sensitive", "nsfw", "safety", "content policy", "responsible ai", "sensitive content"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}
