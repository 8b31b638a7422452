package luma

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// maxMessage caps how much of a provider's error text goes into our errors.
const maxMessage = 300

// httpError classifies a non-2xx response. It is the one place where Dream
// Machine status codes become error classes: errclass.FromHTTPStatus
// decides (400/413/422 Permanent, 404 NotFound, 401/403/429/5xx Retryable),
// 429 carries the Retry-After hint, 402 (out of credits) is Retryable, and
// the message is the provider's "detail". Never holds request headers.
func httpError(op string, resp *http.Response, body []byte, now time.Time) error {
	code := resp.StatusCode
	msg := providerMessage(body)
	if code == http.StatusTooManyRequests {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return errclass.WithRetryAfter(d, "luma: %s: HTTP 429 rate limited, retry after %s: %s", op, d, msg)
		}
	}
	class := errclass.FromHTTPStatus(code)
	hint := ""
	switch {
	case class == nil:
		class = errclass.Retryable
	case code == http.StatusUnauthorized:
		hint = " (the API key was refused; check LUMAAI_API_KEY)"
	case code == http.StatusPaymentRequired:
		class = errclass.Retryable // the account is out of credits: fail over
	}
	return errclass.New(class, "luma: %s: HTTP %d%s: %s", op, code, hint, msg)
}

// providerMessage extracts Dream Machine's {"detail": ...}, a string or a
// list of {"loc", "msg"} validation errors, or else a clipped body.
func providerMessage(body []byte) string {
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Detail) > 0 {
		var s string
		if json.Unmarshal(e.Detail, &s) == nil && s != "" {
			return clip(s)
		}
		var list []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(e.Detail, &list) == nil && len(list) > 0 {
			parts := make([]string, 0, len(list))
			for _, l := range list {
				loc := make([]string, 0, len(l.Loc))
				for _, p := range l.Loc {
					switch v := p.(type) {
					case string:
						loc = append(loc, v)
					case float64:
						loc = append(loc, strconv.Itoa(int(v)))
					}
				}
				parts = append(parts, strings.Join(loc, ".")+": "+l.Msg)
			}
			return clip(strings.Join(parts, "; "))
		}
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return clip(s)
}

func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second), true
		}
	}
	return 0, false
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
