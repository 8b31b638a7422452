package providerhttp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestError(t *testing.T) {
	t.Parallel()
	inAMinute := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		status   int
		header   map[string]string
		body     string
		problem  providerhttp.Problem
		class    error
		retry    time.Duration
		contains string
	}{
		{name: "400", status: 400, problem: providerhttp.Problem{Message: "duration: bad"}, class: errclass.Permanent, contains: "acme: op: HTTP 400: duration: bad"},
		{name: "400 safety", status: 400, problem: providerhttp.Problem{Message: "unsafe", Class: errclass.ContentSafety}, class: errclass.ContentSafety},
		{name: "401 with hint", status: 401, class: errclass.Retryable, contains: "HTTP 401 (check ACME_KEY)"},
		{name: "403 with hint", status: 403, class: errclass.Retryable, contains: "HTTP 403 (check ACME_KEY)"},
		{name: "402 out of credit fails over", status: 402, class: errclass.Retryable},
		{name: "404", status: 404, class: errclass.NotFound},
		{name: "409", status: 409, class: errclass.Conflict},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"}, class: errclass.Retryable, retry: 7 * time.Second, contains: "HTTP 429 (retry after 7s)"},
		{name: "429 Retry-After date", status: 429, header: map[string]string{"Retry-After": inAMinute}, class: errclass.Retryable, retry: time.Minute},
		{name: "429 hint from the body", status: 429, problem: providerhttp.Problem{RetryAfter: 30 * time.Second}, class: errclass.Retryable, retry: 30 * time.Second},
		{name: "429 header beats body", status: 429, header: map[string]string{"Retry-After": "3"}, problem: providerhttp.Problem{RetryAfter: 30 * time.Second}, class: errclass.Retryable, retry: 3 * time.Second},
		{name: "503 Retry-After", status: 503, header: map[string]string{"Retry-After": "2"}, class: errclass.Retryable, retry: 2 * time.Second},
		{name: "400 ignores Retry-After", status: 400, header: map[string]string{"Retry-After": "2"}, class: errclass.Permanent},
		{name: "302 where 2xx was due", status: 302, class: errclass.Retryable},
		{name: "safety class on a 302 stays Retryable", status: 302, problem: providerhttp.Problem{Class: errclass.ContentSafety}, class: errclass.Retryable},
		{name: "message falls back to the body", status: 500, body: " <html>oops</html>\n", class: errclass.Retryable, contains: "HTTP 500: <html>oops</html>"},
		{name: "empty body", status: 502, class: errclass.Retryable, contains: "HTTP 502: (empty body)"},
		{name: "an echoed key is redacted", status: 400, body: "bad key Bearer " + secret, class: errclass.Permanent, contains: "bad key Bearer [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tt.status, tt.header, tt.body)
			c := client(s)
			c.Problem = func(*providerhttp.Response) providerhttp.Problem { return tt.problem }
			c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			r, err := c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "op"})
			require.NoError(t, err)
			err = c.Error("op", r)
			require.Equal(t, tt.class, errclass.Of(err), "%v", err)
			require.NotContains(t, err.Error(), secret)
			require.Contains(t, err.Error(), tt.contains)
			require.Equal(t, tt.status == 429 || tt.status == 503, errclass.NotAccepted(err),
				"only 429 and 503 say the request was not taken on")
			d, ok := errclass.RetryAfter(err)
			require.Equal(t, tt.retry != 0, ok)
			require.InDelta(t, tt.retry.Seconds(), d.Seconds(), 2)
		})
	}
}
