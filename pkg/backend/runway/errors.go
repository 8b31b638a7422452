package runway

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

// httpError classifies a non-2xx response. It is the one place where Runway
// status codes become error classes: errclass.FromHTTPStatus decides, 429
// carries the Retry-After hint, 400 carries the provider's message, and a
// status FromHTTPStatus does not classify is Retryable. The message never
// holds request headers, so never the key.
func httpError(op string, resp *http.Response, body []byte, now time.Time) error {
	code := resp.StatusCode
	msg := providerMessage(body)
	if code == http.StatusTooManyRequests {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return errclass.WithRetryAfter(d, "runway: %s: HTTP 429 rate limited, retry after %s: %s", op, d, msg)
		}
	}
	class := errclass.FromHTTPStatus(code)
	hint := ""
	switch {
	case class == nil: // 1xx/3xx where a 2xx was due
		class = errclass.Retryable
	case code == http.StatusUnauthorized:
		hint = " (the API key was refused; check RUNWAYML_API_SECRET)"
	case code == http.StatusPaymentRequired:
		// The account is out of credits: the backend's trouble, not the job's.
		class = errclass.Retryable
	}
	return errclass.New(class, "runway: %s: HTTP %d%s: %s", op, code, hint, msg)
}

// providerMessage extracts Runway's human-readable error ({"error": "..."})
// from a body, or else a clipped copy of the body itself.
func providerMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return clip(e.Error)
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return clip(s)
}

// clip shortens s to maxMessage bytes at a rune boundary and strips control
// characters.
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

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
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

// failureClass classifies a FAILED task by its failureCode, a dotted code
// whose leftmost segment is the most generic (docs: "Task failures").
//
//   - any SAFETY segment (SAFETY.INPUT.TEXT, SAFETY.OUTPUT.VIDEO,
//     INPUT_PREPROCESSING.SAFETY.TEXT): ContentSafety, never retried;
//   - ASSET.* and INPUT.*: Permanent, the inputs will never work;
//   - INTERNAL.* (INTERNAL.BAD_OUTPUT.*), INPUT_PREPROCESSING.INTERNAL and
//     anything unknown: Retryable.
func failureClass(code string) error {
	segs := strings.Split(strings.ToUpper(code), ".")
	for _, s := range segs {
		if s == "SAFETY" {
			return errclass.ContentSafety
		}
	}
	switch segs[0] {
	case "ASSET", "INPUT":
		return errclass.Permanent
	}
	return errclass.Retryable
}
