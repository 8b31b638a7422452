package platform

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
)

// MaxDuration is the largest time.Duration: the max of a Vars.Duration
// without an upper bound.
const MaxDuration time.Duration = math.MaxInt64

// Vars reads environment variables into typed values for a service's
// configuration. Each method reads one variable: it returns def when the
// variable is unset or empty (after trimming spaces, for numbers, durations
// and booleans), the parsed value when it is valid, and otherwise def after
// recording an error that names the variable. Err returns every recorded
// error, so that start-up reports all bad variables at once.
//
// Error messages quote the bad value; read secrets with Get and report
// their errors with Fail without the value. A Vars is not safe for
// concurrent use.
type Vars struct {
	getenv func(string) string
	errs   []error
}

// NewVars returns a Vars that reads variables with getenv (os.Getenv in
// production, a map lookup in tests).
func NewVars(getenv func(string) string) *Vars { return &Vars{getenv: getenv} }

// Get returns the variable's value as is, "" when unset.
func (v *Vars) Get(name string) string { return v.getenv(name) }

// Required returns the variable's value; when it is unset it records
// "NAME is required: what".
func (v *Vars) Required(name, what string) string {
	s := v.getenv(name)
	if s == "" {
		v.errs = append(v.errs, fmt.Errorf("%s is required: %s", name, what))
	}
	return s
}

// Bool reads true or false (and the other spellings of strconv.ParseBool:
// 1, 0, t, f, TRUE, ...).
func (v *Vars) Bool(name string, def bool) bool {
	s := v.value(name)
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		v.Fail(name, "%q is not a boolean (true or false)", s)
		return def
	}
	return b
}

// Int reads a whole number in [lo, hi].
func (v *Vars) Int(name string, def, lo, hi int) int {
	return readNumber(v, name, def, lo, hi, number[int]{parse: strconv.Atoi, kind: "a whole number",
		unbounded: math.MaxInt, format: strconv.Itoa})
}

// Duration reads a time.ParseDuration value (90s, 2m, 1h30m) in
// [lo, hi]; hi MaxDuration is no upper bound.
func (v *Vars) Duration(name string, def, lo, hi time.Duration) time.Duration {
	return readNumber(v, name, def, lo, hi, number[time.Duration]{parse: time.ParseDuration,
		kind: "a duration (e.g. 90s, 2m)", unbounded: MaxDuration, format: FormatDuration})
}

// PositiveDuration reads a duration greater than zero.
func (v *Vars) PositiveDuration(name string, def time.Duration) time.Duration {
	return v.Duration(name, def, 1, MaxDuration)
}

// USD reads a non-negative amount of US dollars with at most six decimals
// (100, 12.5) as micro-USD (package money).
func (v *Vars) USD(name string, def money.Micros) money.Micros {
	s := v.value(name)
	if s == "" {
		return def
	}
	m, err := money.Parse(s)
	switch {
	case err != nil:
		v.Fail(name, "%q is not an amount of USD with at most 6 decimals (e.g. 100, 12.5)", s)
		return def
	case m < 0:
		v.Fail(name, "%q must not be negative", s)
		return def
	}
	return m
}

// List reads a comma-separated list; items are trimmed of spaces and must
// not be empty. Unset is nil.
func (v *Vars) List(name string) []string {
	s := v.value(name)
	if s == "" {
		return nil
	}
	items := strings.Split(s, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
		if items[i] == "" {
			v.Fail(name, "%q has an empty item: want a comma-separated list such as a,b", s)
			return nil
		}
	}
	return items
}

// Durations reads a comma-separated list of durations (5s,5m,30m), each
// greater than zero. Unset is def.
func (v *Vars) Durations(name string, def []time.Duration) []time.Duration {
	items := v.List(name)
	if items == nil {
		return def
	}
	out := make([]time.Duration, 0, len(items))
	for _, it := range items {
		d, err := time.ParseDuration(it)
		if err != nil || d <= 0 {
			v.Fail(name, "%q is not a positive duration (e.g. 5s, 5m): want a comma-separated list such as 5s,5m,30m", it)
			return def
		}
		out = append(out, d)
	}
	return out
}

// Fail records an error about the variable: "NAME: " and the formatted
// message.
func (v *Vars) Fail(name, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %w", name, fmt.Errorf(format, args...)))
}

// Err returns every error recorded so far, joined (one a line), or nil.
func (v *Vars) Err() error { return errors.Join(v.errs...) }

// value returns the variable trimmed of spaces.
func (v *Vars) value(name string) string { return strings.TrimSpace(v.getenv(name)) }

// number is how readNumber parses and prints one kind of number.
type number[T int | time.Duration] struct {
	parse     func(string) (T, error)
	kind      string // "a whole number": what a bad value "is not"
	unbounded T      // the largest T: hi without an upper bound
	format    func(T) string
}

// readNumber reads a number in [lo, hi]; see Vars.
func readNumber[T int | time.Duration](v *Vars, name string, def, lo, hi T, n number[T]) T {
	s := v.value(name)
	if s == "" {
		return def
	}
	x, err := n.parse(s)
	if err != nil {
		v.Fail(name, "%q is not %s", s, n.kind)
		return def
	}
	if x < lo || x > hi {
		v.Fail(name, "%q %s", s, rangeText(lo, hi, n))
		return def
	}
	return x
}

// rangeText says what [lo, hi] allows: "must be positive", "must not be
// negative", "must be at least 2", "must be between 10s and 10m".
func rangeText[T int | time.Duration](lo, hi T, n number[T]) string {
	switch {
	case hi != n.unbounded:
		return "must be between " + n.format(lo) + " and " + n.format(hi)
	case lo == 1:
		return "must be positive"
	case lo == 0:
		return "must not be negative"
	default:
		return "must be at least " + n.format(lo)
	}
}

// FormatDuration is d.String() without zero trailing units: 10m, not
// 10m0s; 1h30m, not 1h30m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
