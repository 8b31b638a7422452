package errclass

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFromHTTPStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]error{
		200: nil, 302: nil,
		400: Permanent, 422: Permanent, 413: Permanent,
		401: Retryable, 402: Retryable, 403: Retryable, // our account's trouble: fail over
		404: NotFound, 409: Conflict,
		408: Retryable, 429: Retryable, 500: Retryable, 502: Retryable, 503: Retryable,
	} {
		require.Equal(t, want, FromHTTPStatus(code), "HTTP %d", code)
	}
}

func TestOfAndWrapping(t *testing.T) {
	t.Parallel()
	cause := errors.New("socket closed")
	err := fmt.Errorf("submit job j to runway: %w", Wrap(Retryable, cause, "poll"))
	require.Equal(t, Retryable, Of(err))
	require.ErrorIs(t, err, cause, "the cause stays reachable")
	require.True(t, IsRetryable(err))
	require.True(t, IsRetryable(errors.New("unclassified")), "unknown errors are assumed transient")
	require.False(t, IsRetryable(New(Permanent, "bad")))
	require.False(t, IsRetryable(nil))
	require.Equal(t, ContentSafety, Of(fmt.Errorf("x: %w", New(ContentSafety, "blocked"))))
	require.Nil(t, Of(context.Canceled))
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrapped: %w", WithRetryAfter(7*time.Second, "429 from %s", "fal"))
	d, ok := RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)
	require.Equal(t, Retryable, Of(err))
	_, ok = RetryAfter(New(Retryable, "no hint"))
	require.False(t, ok)
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	for class, want := range map[error]int{
		Permanent: http.StatusBadRequest, NotFound: http.StatusNotFound, Conflict: http.StatusConflict,
		Unauthenticated: http.StatusUnauthorized, Budget: http.StatusPaymentRequired,
		ContentSafety: http.StatusUnprocessableEntity, Retryable: http.StatusServiceUnavailable,
	} {
		require.Equal(t, want, HTTPStatus(New(class, "x")))
	}
	require.Equal(t, http.StatusInternalServerError, HTTPStatus(errors.New("unclassified")))
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"  ", 0, false}, {"0", 0, false}, {"-5", 0, false}, {"soon", 0, false},
		{"12", 12 * time.Second, true}, {" 3 ", 3 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false},
	}
	for _, tt := range tests {
		d, ok := ParseRetryAfter(tt.in, now)
		require.Equal(t, tt.ok, ok, "%q", tt.in)
		require.Equal(t, tt.want, d, "%q", tt.in)
	}
}

func TestNotAccepted(t *testing.T) {
	t.Parallel()
	refused := &Error{Class: Retryable, Msg: "HTTP 429", NotAccepted: true}
	require.True(t, NotAccepted(refused))
	require.True(t, NotAccepted(fmt.Errorf("submit: %w", refused)), "through fmt wrapping")
	require.True(t, NotAccepted(Wrap(Retryable, refused, "outer")), "an outer classified error does not hide it")
	require.False(t, NotAccepted(New(Retryable, "HTTP 500")), "a 500 may have been acted on")
	require.False(t, NotAccepted(nil))
	for code, want := range map[int]bool{429: true, 503: true, 500: false, 502: false, 504: false, 400: false} {
		require.Equal(t, want, NotAcceptedStatus(code), code)
	}
}
