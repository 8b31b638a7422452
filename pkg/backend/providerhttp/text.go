package providerhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxMessage caps how much of a provider's text goes into an error.
const MaxMessage = 300

// Clip shortens s to MaxMessage bytes at a rune boundary, adding "…", and
// replaces control characters with spaces, so that provider text cannot
// flood or forge log lines.
func Clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// JSONText is the text of a JSON error field that providers fill with a
// string or with an object: the string, or else the JSON itself, clipped;
// "" when the field is absent or null.
func JSONText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return Clip(s)
	}
	return Clip(string(raw))
}

// Redacted replaces a secret in error text.
const Redacted = "[REDACTED]"

// RedactText returns s with every occurrence of secret replaced.
func RedactText(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, Redacted)
}

// Redact returns err with secret removed from its text (err itself when it
// does not hold it). errors.Is still matches what err matches, so context
// errors stay visible; the original text is not reachable through Unwrap.
func Redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{msg: RedactText(err.Error(), secret), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string        { return r.msg }
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }

// FieldError is one item of a FastAPI-style validation error body,
// {"detail": [{"loc": ["body", "duration"], "msg": "...", "type": "..."}]},
// which Luma and fal send.
type FieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// String is "body.duration: <msg>", followed by " (<type>)" when the item
// has a type.
func (f FieldError) String() string {
	parts := make([]string, 0, len(f.Loc))
	for _, l := range f.Loc {
		parts = append(parts, fmt.Sprint(l))
	}
	s := f.Msg
	if len(parts) > 0 {
		s = strings.Join(parts, ".") + ": " + f.Msg
	}
	if f.Type != "" {
		s += " (" + f.Type + ")"
	}
	return s
}

// FieldMessages reads a JSON error field that holds a string or a
// FastAPI-style list of FieldError: the string, or each item's String, and
// the types the items carry. ok is false when raw is absent, null or
// anything else.
func FieldMessages(raw json.RawMessage) (msgs, types []string, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil, true
	}
	var items []FieldError
	if json.Unmarshal(raw, &items) != nil {
		return nil, nil, false
	}
	for _, it := range items {
		msgs = append(msgs, it.String())
		if it.Type != "" {
			types = append(types, it.Type)
		}
	}
	return msgs, types, true
}

// MessageField returns a Client.Problem for a provider whose error body
// carries its text in the one top-level field name: a string (Runway's
// {"error": "..."}) or a list of FieldError (Luma's {"detail": [...]}),
// whose messages are joined with "; ". A body without it is quoted as it
// is.
func MessageField(name string) func(*Response) Problem {
	return func(r *Response) Problem {
		var body map[string]json.RawMessage
		if json.Unmarshal(r.Body, &body) != nil {
			return Problem{}
		}
		msgs, _, _ := FieldMessages(body[name])
		return Problem{Message: strings.Join(msgs, "; ")}
	}
}
