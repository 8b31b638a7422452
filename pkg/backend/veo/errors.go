package veo

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// maxMessage caps how much of a provider's error text goes into our errors.
const maxMessage = 300

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

// httpError classifies a response that is not what the call wanted. It is
// the one place where Vertex's HTTP statuses become error classes:
// errclass.FromHTTPStatus decides (400 Permanent, 404 NotFound, 401/403/429/
// 5xx Retryable; Retry-After carried when sent), except that a 400 whose
// message is a Responsible AI refusal is ContentSafety.
func (b *Backend) httpError(op string, r *response) error {
	ge, ok := parseGoogleError(r.body)
	msg := ""
	if ok {
		msg = clip(strings.TrimSpace(ge.Status + " " + ge.Message))
	} else {
		msg = clip(strings.TrimSpace(string(r.body)))
	}
	if msg == "" {
		msg = "(empty body)"
	}
	class := errclass.FromHTTPStatus(r.status)
	hint := ""
	switch {
	case class == nil:
		class = errclass.Retryable
	case r.status == http.StatusBadRequest && safetyText(ge.Message):
		class = errclass.ContentSafety
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		hint = " (check the service account's access to Vertex AI)"
	}
	e := &errclass.Error{Class: class, Msg: "veo: " + op + ": HTTP " + strconv.Itoa(r.status) + hint + ": " + msg}
	if class == errclass.Retryable {
		if d, ok := parseRetryAfter(r.header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	}
	return e
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

// redact returns err with secret removed from its text, keeping errors.Is
// working for context errors.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), secret, "[REDACTED]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string        { return r.msg }
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
