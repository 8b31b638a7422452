package replicate

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// maxMessage caps how much of a provider's error text goes into our errors.
const maxMessage = 300

// httpError classifies a response that is not what the call wanted. It is
// the one place where Replicate's HTTP statuses become error classes:
// errclass.FromHTTPStatus decides (422 invalid input Permanent, 404
// NotFound, 429/5xx/401/403 Retryable), a Retryable error carries the
// Retry-After header or, failing that, the "resets in ~Ns" of a 429 detail.
func (b *Backend) httpError(op string, r *response) error {
	msg := problemMessage(r.body)
	class := errclass.FromHTTPStatus(r.status)
	hint := ""
	switch {
	case class == nil:
		class = errclass.Retryable
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		hint = " (the token was refused; check REPLICATE_API_TOKEN)"
	case r.status == http.StatusPaymentRequired:
		// Out of credit: the backend's trouble, not the job's.
		class = errclass.Retryable
	case r.status == http.StatusUnprocessableEntity && safetyText(msg):
		class = errclass.ContentSafety
	}
	e := &errclass.Error{
		Class: class,
		Msg:   b.redactText("replicate: " + op + ": HTTP " + strconv.Itoa(r.status) + hint + ": " + msg),
	}
	if class == errclass.Retryable {
		if d, ok := parseRetryAfter(r.header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		} else if r.status == http.StatusTooManyRequests {
			e.RetryAfter = resetsIn(msg)
		}
	}
	return e
}

// problemMessage extracts Replicate's error text (an RFC 7807 problem:
// {"title", "detail", "status"}) or a clipped copy of the body.
func problemMessage(body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
		switch {
		case p.Title == "" || strings.Contains(p.Detail, p.Title):
			return clip(p.Detail)
		case p.Detail == "":
			return clip(p.Title)
		}
		return clip(p.Title + ": " + p.Detail)
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return clip(s)
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

// clip shortens s to maxMessage bytes at a rune boundary and replaces
// control characters.
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

// redactText removes the API token from s.
func (b *Backend) redactText(s string) string {
	if b.cfg.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, b.cfg.APIKey, "[REDACTED]")
}

// redact returns err with the token removed from its text, keeping
// errors.Is working for context errors.
func (b *Backend) redact(err error) error {
	if b.cfg.APIKey == "" || !strings.Contains(err.Error(), b.cfg.APIKey) {
		return err
	}
	return &redacted{msg: b.redactText(err.Error()), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string        { return r.msg }
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
