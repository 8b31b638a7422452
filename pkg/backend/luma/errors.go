package luma

import (
	"encoding/json"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// problem reads Dream Machine's error body, {"detail": ...}: a string, or
// a list of FastAPI validation errors [{"loc", "msg"}]. A body without one
// is quoted as it is.
func problem(r *providerhttp.Response) providerhttp.Problem {
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(r.Body, &e) != nil || len(e.Detail) == 0 {
		return providerhttp.Problem{}
	}
	var s string
	if json.Unmarshal(e.Detail, &s) == nil {
		return providerhttp.Problem{Message: s}
	}
	var list []providerhttp.FieldError
	if json.Unmarshal(e.Detail, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, f := range list {
			parts = append(parts, f.String())
		}
		return providerhttp.Problem{Message: strings.Join(parts, "; ")}
	}
	return providerhttp.Problem{}
}

// Words in a failure_reason that mean a moderation rejection. Dream
// Machine's documented reasons: "Contains blacklisted words", "Frame
// moderation failed", "Advanced prompt moderation failed".
var safetyWords = []string{"moderat", "blacklist", "not allowed", "blocked", "unsafe", "safety", "content policy", "inappropriate"}

// Words that mean the inputs can never work: "Failed to read user input
// frames" (a keyframe URL Luma cannot fetch), "No keyframes provided", ...
var permanentWords = []string{"failed to read user input", "no keyframes", "invalid", "unsupported", "not supported", "too large", "too long", "too short"}

// failureClass classifies a failed generation. A machine-readable
// failure_code, when the API sends one, decides; otherwise the text of
// failure_reason: moderation wording is ContentSafety, unusable inputs are
// Permanent, the rest ("Prompt processing failed", internal errors) is
// Retryable.
func failureClass(code, reason string) error {
	switch code {
	case "content_moderated":
		return errclass.ContentSafety
	case "invalid_request", "image_too_large", "unsupported_format", "corrupt_input":
		return errclass.Permanent
	case "":
	default:
		return errclass.Retryable
	}
	r := strings.ToLower(reason)
	for _, w := range safetyWords {
		if strings.Contains(r, w) {
			return errclass.ContentSafety
		}
	}
	for _, w := range permanentWords {
		if strings.Contains(r, w) {
			return errclass.Permanent
		}
	}
	return errclass.Retryable
}
