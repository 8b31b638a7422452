package fal

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// maxMessage caps how much of a provider's error text goes into our errors.
const maxMessage = 300

// typeContentPolicy is fal's error type for a content checker's rejection
// (https://fal.ai/docs/errors#content_policy_violation).
const typeContentPolicy = "content_policy_violation"

// detail is what fal says about a failure. Model errors have the body
// {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}; queue and
// platform errors {"detail": "..."}; failed requests may add "error_type"
// (also in the X-Fal-Error-Type header).
type detail struct {
	present bool     // the body had a detail, error or error_type field
	message string   // human text, clipped
	types   []string // machine types: detail[].type and error_type
}

func (d detail) hasType(t string) bool {
	for _, x := range d.types {
		if x == t {
			return true
		}
	}
	return false
}

func parseDetail(body []byte, header http.Header) detail {
	var raw struct {
		Detail    json.RawMessage `json:"detail"`
		Error     json.RawMessage `json:"error"`
		ErrorType string          `json:"error_type"`
		Status    string          `json:"status"`
	}
	var d detail
	if header != nil {
		if t := header.Get("X-Fal-Error-Type"); t != "" {
			d.present = true
			d.types = append(d.types, t)
		}
	}
	if json.Unmarshal(body, &raw) != nil {
		if s := strings.TrimSpace(string(body)); s != "" {
			d.message = clip(s)
		}
		return d
	}
	if raw.ErrorType != "" {
		d.present = true
		d.types = append(d.types, raw.ErrorType)
	}
	var msgs []string
	for _, r := range []json.RawMessage{raw.Detail, raw.Error} {
		if len(r) == 0 || string(r) == "null" {
			continue
		}
		d.present = true
		var s string
		if json.Unmarshal(r, &s) == nil {
			msgs = append(msgs, s)
			continue
		}
		var items []struct {
			Loc  []any  `json:"loc"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		}
		if json.Unmarshal(r, &items) == nil {
			for _, it := range items {
				if it.Type != "" {
					d.types = append(d.types, it.Type)
				}
				m := it.Msg
				if len(it.Loc) > 0 {
					parts := make([]string, 0, len(it.Loc))
					for _, l := range it.Loc {
						parts = append(parts, strings.Trim(string(mustJSON(l)), `"`))
					}
					m = strings.Join(parts, ".") + ": " + m
				}
				if it.Type != "" {
					m += " (" + it.Type + ")"
				}
				msgs = append(msgs, m)
			}
			continue
		}
		msgs = append(msgs, string(r))
	}
	if len(msgs) == 0 && raw.Status != "" {
		msgs = append(msgs, raw.Status)
	}
	d.message = clip(strings.Join(msgs, "; "))
	return d
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// httpError classifies a response that is not what the call wanted. It is
// the one place where fal's HTTP statuses become error classes:
// errclass.FromHTTPStatus decides, except that a content_policy_violation is
// ContentSafety; a Retryable error carries Retry-After when fal sends it.
func (b *Backend) httpError(op string, r *response) error {
	d := parseDetail(r.body, r.header)
	class := errclass.FromHTTPStatus(r.status)
	hint := ""
	switch {
	case class == nil: // a 1xx/2xx/3xx the call did not expect
		class = errclass.Retryable
	case d.hasType(typeContentPolicy):
		class = errclass.ContentSafety
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		hint = " (the key was refused; check FAL_KEY)"
	}
	msg := b.redactText("fal: " + op + ": HTTP " + strconv.Itoa(r.status) + hint + ": " + orEmpty(d.message))
	e := &errclass.Error{Class: class, Msg: msg}
	if class == errclass.Retryable {
		if ra, ok := parseRetryAfter(r.header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = ra
		}
	}
	return e
}

// failureClass classifies a generation that fal finished with an error,
// from its error types and the HTTP status of its result:
//
//   - content_policy_violation anywhere: ContentSafety (no failover);
//   - a result status of 5xx, or an infrastructure error type (timeouts,
//     runner_*, internal and downstream errors): Retryable — fal does not
//     bill these;
//   - any other 4xx result (validation, unreadable image, ...): Permanent;
//   - nothing known: Retryable.
func failureClass(types []string, status int) error {
	types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "" })
	for _, t := range types {
		if t == typeContentPolicy {
			return errclass.ContentSafety
		}
	}
	if status >= 500 {
		return errclass.Retryable
	}
	for _, t := range types {
		if transientType(t) {
			return errclass.Retryable
		}
	}
	if status >= 400 && status != http.StatusTooManyRequests {
		return errclass.Permanent
	}
	if len(types) > 0 {
		return errclass.Permanent
	}
	return errclass.Retryable
}

// transientType reports whether a fal error type names an infrastructure
// failure (https://fal.ai/docs/documentation/model-apis/request-errors and
// https://fal.ai/docs/errors: request_timeout, startup_timeout,
// runner_disconnected, runner_server_error, internal_server_error,
// generation_timeout, downstream_service_error, ...).
func transientType(t string) bool {
	t = strings.ToLower(t)
	for _, s := range []string{"timeout", "runner_", "internal", "downstream", "unavailable", "no_media_generated"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// canceledType reports whether a completed request's error type says it was
// canceled. fal does not document the status of a canceled request; a type
// mentioning cancellation is read as such.
func canceledType(t string) bool { return strings.Contains(strings.ToLower(t), "cancel") }

func orEmpty(s string) string {
	if s == "" {
		return "(empty body)"
	}
	return s
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

// redactText removes the API key from s (a provider echoing it back is
// unlikely, a custom RoundTripper quoting it possible).
func (b *Backend) redactText(s string) string {
	if b.cfg.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, b.cfg.APIKey, "[REDACTED]")
}

// redact returns err with the API key removed from its text, keeping
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
