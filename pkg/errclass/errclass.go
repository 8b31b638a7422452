// Package errclass is the closed set of error classes that AIPROD decides on.
//
// Implementations of ports (queue, store, backend adapters) never retry by
// themselves: they classify what went wrong by wrapping one of the sentinel
// errors below, and one layer above decides to retry, fail over, dead-letter
// or give up. Callers test the class with errors.Is, never by message text.
//
// HTTP status codes are mapped to classes in one place (FromHTTPStatus) and
// classes to HTTP status codes in one place (HTTPStatus).
package errclass

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The classes. Wrap them with New or with fmt.Errorf("...: %w", Class).
var (
	// Retryable is a transient infrastructure failure (5xx, timeout,
	// connection refused, 429): try again later or elsewhere. It counts as a
	// strike against a video backend's circuit.
	Retryable = errors.New("retryable")
	// Permanent is a request that will never succeed as sent (bad payload,
	// unsupported parameters): fail or dead-letter, do not retry or fail over.
	Permanent = errors.New("permanent")
	// ContentSafety is a provider's content-safety rejection: fail the job,
	// no failover, and no strike against the backend.
	ContentSafety = errors.New("content_safety")
	// Budget is a project or user budget that cannot cover the request.
	Budget = errors.New("budget")
	// NotFound is an absent entity (or one that belongs to another project).
	NotFound = errors.New("not_found")
	// Conflict is a state that forbids the operation (an illegal job state
	// transition, an entity that already exists, a lost race).
	Conflict = errors.New("conflict")
	// Unauthenticated is a missing or wrong credential.
	Unauthenticated = errors.New("unauthenticated")
)

// Error is a classified error with an optional Retry-After hint.
type Error struct {
	Class      error         // one of the sentinel classes above
	Msg        string        // human message; never contains secrets
	RetryAfter time.Duration // zero when the source gave no hint
	// NotAccepted says the remote service answered that it did not take the
	// request on (429 Too Many Requests, 503 Service Unavailable), or that
	// the request never reached it (connection refused): sending the same
	// request again cannot duplicate anything. Only Retryable errors set it.
	NotAccepted bool
	Err         error // underlying cause, may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Is reports whether target is e's class, so that errors.Is(err, class)
// answers yes without unwrapping (which builds a slice).
func (e *Error) Is(target error) bool { return e.Class == target }

// Unwrap lets errors.Is find both the class and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Class, e.Err}
	}
	return []error{e.Class}
}

// New returns an error of class with a formatted message.
func New(class error, format string, args ...any) error {
	return &Error{Class: class, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err with class, keeping it as the cause.
func Wrap(class error, err error, msg string) error {
	return &Error{Class: class, Msg: msg, Err: err}
}

// WithRetryAfter returns a Retryable error carrying a server's Retry-After hint.
func WithRetryAfter(d time.Duration, format string, args ...any) error {
	return &Error{Class: Retryable, Msg: fmt.Sprintf(format, args...), RetryAfter: d}
}

// RetryAfter returns the Retry-After hint carried by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// NotAccepted reports whether err says the request was provably not taken
// on by the remote service (see Error.NotAccepted).
// Every *Error in err's tree counts, so a wrapper does not hide it.
func NotAccepted(err error) bool {
	return anyError(err, func(e *Error) bool { return e.NotAccepted })
}

// anyError reports whether f holds for some *Error in err's tree.
func anyError(err error, f func(*Error) bool) bool {
	if err == nil {
		return false
	}
	if e, ok := err.(*Error); ok && f(e) { //nolint:errorlint // this walks the tree itself: errors.As stops at the first match
		return true
	}
	switch u := err.(type) { //nolint:errorlint // the Unwrap methods, one level at a time
	case interface{ Unwrap() error }:
		return anyError(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			if anyError(c, f) {
				return true
			}
		}
	}
	return false
}

// NotAcceptedStatus reports whether an HTTP error status says the server did
// not take the request on: 429 and 503.
func NotAcceptedStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// Of returns the class of err, or nil when err carries none. An unclassified
// non-nil error is treated as Retryable by callers that must decide.
func Of(err error) error {
	for _, c := range classes {
		if is(err, c) {
			return c
		}
	}
	return nil
}

// classes are the classes in the order Of tries them.
var classes = [...]error{ContentSafety, Budget, Permanent, NotFound, Conflict, Unauthenticated, Retryable}

// is is errors.Is(err, class) for one of the classes, without the slice that
// *Error's Unwrap builds at each call: an *Error's class, then its cause,
// are looked at directly.
func is(err, class error) bool {
	for err != nil {
		if err == class { // class is comparable: a *errors.errorString
			return true
		}
		if x, ok := err.(interface{ Is(error) bool }); ok && x.Is(class) {
			return true
		}
		switch x := err.(type) { //nolint:errorlint // the Unwrap methods, one level at a time
		case *Error:
			if is(x.Class, class) {
				return true
			}
			err = x.Err
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if is(e, class) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// IsRetryable reports whether err should be retried: it is classified
// Retryable, or not classified at all (unknown errors are assumed transient).
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	c := Of(err)
	return c == nil || c == Retryable
}

// FromHTTPStatus classifies an HTTP response status from a remote service.
// 2xx and 3xx return nil.
func FromHTTPStatus(code int) error {
	switch {
	case code < 400:
		return nil
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return Retryable
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusPaymentRequired:
		// A provider rejecting our credential, or our account being out of
		// credit, is a problem of that backend, not of the job: fail over.
		return Retryable
	case code == http.StatusNotFound:
		return NotFound
	case code == http.StatusConflict:
		return Conflict
	case code >= 500:
		return Retryable
	default:
		return Permanent
	}
}

// HTTPStatus maps a class to the status AIPROD's own API answers with.
func HTTPStatus(err error) int {
	switch Of(err) {
	case Permanent:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Unauthenticated:
		return http.StatusUnauthorized
	case Budget:
		return http.StatusPaymentRequired
	case ContentSafety:
		return http.StatusUnprocessableEntity
	case Retryable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ParseRetryAfter reads an HTTP Retry-After header: delay-seconds or an HTTP
// date (relative to now). It reports false for an absent, unreadable or
// non-positive delay.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
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
