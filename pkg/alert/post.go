package alert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
)

// maxAnswer bounds how much of a channel's answer is read: enough for any
// error document, never a receiver's whole body.
const maxAnswer = 16 << 10

// DefaultTimeout bounds one delivery when the caller's client has none.
const DefaultTimeout = 10 * time.Second

// defaultClient refuses private networks at dial time (pkg/netguard): a
// Slack URL is set by a project's admin and must not reach the
// service's own network. The dev stack passes a client that allows them.
var defaultClient = func() *http.Client {
	c := (&netguard.Policy{}).Client()
	c.Timeout = DefaultTimeout
	return c
}()

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return defaultClient
}

// post sends req and returns the answer's status and (bounded) body. A
// transport failure is Retryable and never quotes the URL (it is a
// secret for Slack): channel names where it went.
// A 2xx answer returns its body; any other is a statusError.
func post(ctx context.Context, c *http.Client, req *http.Request, channel string) ([]byte, error) {
	resp, err := httpClient(c).Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the URL; keep only its cause
		}
		class := errclass.Retryable
		if errors.Is(err, errclass.Permanent) {
			class = errclass.Permanent // the guard refused the address: trying again cannot help
		}
		return nil, errclass.Wrap(class, err, channel+": request failed")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, err, channel+": reading the answer")
	}
	if resp.StatusCode/100 != 2 {
		return body, statusError(channel, resp.Header, resp.StatusCode, string(body))
	}
	return body, nil
}

// statusError classifies a non-2xx answer, quoting the answer's text: 408,
// 429 and 5xx are Retryable; any other refusal (a revoked Slack hook, a bad
// Twilio credential or number) is Permanent, as sending it again cannot
// help. A Retry-After hint is kept.
func statusError(channel string, resp http.Header, status int, detail string) error {
	detail = strings.TrimSpace(detail)
	if len(detail) > 200 {
		detail = detail[:200] + "…"
	}
	class := errclass.Permanent
	if status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 {
		class = errclass.Retryable
	}
	err := &errclass.Error{Class: class, Msg: fmt.Sprintf("%s: answered %d %s", channel, status, detail)}
	if d, ok := errclass.ParseRetryAfter(resp.Get("Retry-After"), time.Now()); ok && class == errclass.Retryable {
		err.RetryAfter = d
	}
	return err
}
