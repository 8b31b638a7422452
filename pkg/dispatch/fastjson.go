package dispatch

import (
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
)

// The fast paths below read the wire form that Encode and json.Marshal
// write (one object of plain members, no whitespace, strings of printable
// ASCII without escapes) without encoding/json's reflection, which cost
// more than the rest of a delivery's decoding. Anything else, valid or not
// (other spellings of a name, escapes, nulls, nested values, whitespace),
// goes to encoding/json as before: what is accepted, and every error, is
// unchanged.

// members scans b as a flat JSON object in that form, calling member with
// each member's name and raw value (a string's contents, or a number's
// text); it reports false when b is not in that form or member refused a
// value.
func members(b []byte, member func(name, value []byte, isString bool) bool) bool {
	if len(b) < 2 || b[0] != '{' {
		return false
	}
	if b[1] == '}' {
		return blank(b[2:])
	}
	for i := 1; ; {
		ns, ne := plainString(b, i)
		if ns < 0 || ne+2 >= len(b) || b[ne+1] != ':' {
			return false
		}
		var vs, ve int
		isString := b[ne+2] == '"'
		if isString {
			vs, ve = plainString(b, ne+2)
			i = ve + 1
		} else {
			vs, ve = number(b, ne+2)
			i = ve
		}
		if vs < 0 || !member(b[ns:ne], b[vs:ve], isString) || i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return blank(b[i+1:])
		default:
			return false
		}
	}
}

// plainString returns the bounds of the contents of the string at b[i],
// made only of printable ASCII other than '"' and '\\' (the closing quote
// is at end); -1 if there is no such string.
func plainString(b []byte, i int) (start, end int) {
	if i >= len(b) || b[i] != '"' {
		return -1, -1
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i + 1, j
		case c < 0x20 || c > 0x7e || c == '\\':
			return -1, -1
		}
	}
	return -1, -1
}

// number returns the bounds of the JSON number at b[i]; -1 if there is
// none.
func number(b []byte, i int) (start, end int) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		j = digits(b, j)
	default:
		return -1, -1
	}
	if j < len(b) && b[j] == '.' {
		if k := digits(b, j+1); k > j+1 {
			j = k
		} else {
			return -1, -1
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		k := j + 1
		if k < len(b) && (b[k] == '+' || b[k] == '-') {
			k++
		}
		if e := digits(b, k); e > k {
			j = e
		} else {
			return -1, -1
		}
	}
	return i, j
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// blank reports whether b holds only JSON whitespace.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// integer is a number as encoding/json puts it in an int: no fraction or
// exponent, in range.
func integer(v []byte, isString bool) (int, bool) {
	for _, c := range v {
		if c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil && !isString
}

// text is a string member's value.
func text(dst *string, v []byte, isString bool) bool {
	*dst = string(v)
	return isString
}

// decodeMessage is Decode's fast path, before validation.
func decodeMessage(b []byte) (m Message, ok bool) {
	ok = members(b, func(name, v []byte, isString bool) bool {
		switch string(name) {
		case "job_id":
			return text(&m.JobID, v, isString)
		case "project_id":
			return text(&m.ProjectID, v, isString)
		case "backend":
			return text(&m.Backend, v, isString)
		case "model":
			return text(&m.Model, v, isString)
		case "attempt":
			m.Attempt, ok = integer(v, isString)
			return ok
		case "seconds":
			m.Seconds, ok = integer(v, isString)
			return ok
		case "estimate_usd":
			return !isString && m.Estimate.UnmarshalJSON(v) == nil
		}
		return false
	})
	return m, ok
}

// decodeLifecycle is DecodeLifecycle's fast path, before validation: an
// event without an error (one with is read by encoding/json).
func decodeLifecycle(b []byte) (ev Lifecycle, ok bool) {
	ok = members(b, func(name, v []byte, isString bool) bool {
		switch string(name) {
		case "job_id":
			return text(&ev.JobID, v, isString)
		case "project_id":
			return text(&ev.ProjectID, v, isString)
		case "status":
			var s string
			ok = text(&s, v, isString)
			ev.Status = job.Status(s)
			return ok
		case "tier":
			var s string
			ok = text(&s, v, isString)
			ev.Tier = job.Tier(s)
			return ok
		case "created_at":
			return isString && ev.CreatedAt.UnmarshalText(v) == nil
		case "completed_at":
			var t time.Time
			ev.CompletedAt = &t
			return isString && t.UnmarshalText(v) == nil
		}
		return false
	})
	return ev, ok
}
