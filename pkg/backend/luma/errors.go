package luma

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
)

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
