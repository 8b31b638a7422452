package providerhttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Problem is what an adapter read from a provider's error answer.
type Problem struct {
	// Message is the provider's human text; empty takes the body itself.
	// Clipped either way.
	Message string
	// Class, when not nil, replaces the class the (error) status gives: a
	// safety refusal that comes as a 400 or 422 is errclass.ContentSafety.
	Class error
	// RetryAfter is a hint read from the body, used when the answer has no
	// Retry-After header (Replicate's "resets in ~30s").
	RetryAfter time.Duration
}

// Error classifies r, an answer the call did not want, as the package doc
// says, with what Client.Problem reads from it, and the text "<Provider>:
// <op>: HTTP <status>[ (hint)][ (retry after d)]: <message>".
func (c *Client) Error(op string, r *Response) error {
	var p Problem
	if c.Problem != nil {
		p = c.Problem(r)
	}
	class := errclass.FromHTTPStatus(r.Status)
	switch {
	case class == nil: // a 1xx, 2xx or 3xx where another was due
		class = errclass.Retryable
	case p.Class != nil:
		class = p.Class
	}
	var b strings.Builder
	b.WriteString(c.prefix(op) + ": HTTP " + strconv.Itoa(r.Status))
	if (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden) && c.AuthHint != "" {
		b.WriteString(" (" + c.AuthHint + ")")
	}
	e := &errclass.Error{Class: class}
	if class == errclass.Retryable {
		e.NotAccepted = errclass.NotAcceptedStatus(r.Status)
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		if d, ok := ParseRetryAfter(r.Header.Get("Retry-After"), now()); ok {
			e.RetryAfter = d
		} else {
			e.RetryAfter = p.RetryAfter
		}
		if e.RetryAfter > 0 {
			b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
		}
	}
	msg := Clip(p.Message)
	if msg == "" {
		msg = BodyText(r.Body)
	}
	b.WriteString(": " + msg)
	e.Msg = RedactText(b.String(), r.secret)
	return e
}

// BodyText is a body as error text: trimmed and clipped, or "(empty body)".
func BodyText(body []byte) string {
	if s := Clip(strings.TrimSpace(string(body))); s != "" {
		return s
	}
	return "(empty body)"
}

// ParseRetryAfter reads a Retry-After header (errclass.ParseRetryAfter).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return errclass.ParseRetryAfter(v, now)
}
