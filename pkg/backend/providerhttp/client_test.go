package providerhttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

const secret = "sk-test-0123456789SECRET"

// server answers every call with status, header and body, and records the
// last request.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	body string
}

func newServer(t *testing.T, status int, header map[string]string, body string) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.last, s.body = r.Clone(context.Background()), string(b)
		s.mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// request returns the last request the server received and its body.
func (s *server) request() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.body
}

func client(s *server) *providerhttp.Client {
	return &providerhttp.Client{
		Provider:   "acme",
		HTTP:       s.Client(),
		Credential: providerhttp.StaticKey{Scheme: "Bearer", Key: secret},
		Header:     http.Header{"X-Api-Version": {"7"}},
		AuthHint:   "check ACME_KEY",
	}
}

func TestDoSendsJSONWithTheCredential(t *testing.T) {
	t.Parallel()
	s := newServer(t, http.StatusCreated, nil, `{"id":"1"}`)
	c := client(s)
	r, err := c.Do(context.Background(), providerhttp.Request{
		Method: http.MethodPost, URL: s.URL + "/things", Op: "create thing", Body: map[string]int{"n": 1},
		Header: http.Header{"Authorization": {"Bearer forged"}, "Cancel-After": {"5m"}},
	})
	require.NoError(t, err)
	require.True(t, r.OK())
	require.Equal(t, `{"id":"1"}`, string(r.Body))
	last, body := s.request()
	require.Equal(t, "Bearer "+secret, last.Header.Get("Authorization"), "the credential wins over a call's header")
	require.Equal(t, "7", last.Header.Get("X-Api-Version"))
	require.Equal(t, "5m", last.Header.Get("Cancel-After"))
	require.Equal(t, "application/json", last.Header.Get("Content-Type"))
	require.Equal(t, "application/json", last.Header.Get("Accept"))
	require.JSONEq(t, `{"n":1}`, body)

	_, err = c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"})
	require.NoError(t, err)
	last, _ = s.request()
	require.Empty(t, last.Header.Get("Content-Type"), "no body, no content type")
}

func TestDoFailures(t *testing.T) {
	t.Parallel()
	s := newServer(t, http.StatusOK, nil, strings.Repeat("x", 100))

	c := client(s)
	c.MaxBody = 10
	_, err := c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"})
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.ErrorContains(t, err, "acme: get: HTTP 200 with a body over 10 bytes")

	c.OverLimit, c.OverLimitHint = errclass.Permanent, " (inline?)"
	_, err = c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"})
	require.Equal(t, errclass.Permanent, errclass.Of(err))
	require.ErrorContains(t, err, "bytes (inline?)")

	_, err = client(s).Do(context.Background(), providerhttp.Request{Method: http.MethodPost, URL: s.URL, Op: "post", Body: func() {}})
	require.Equal(t, errclass.Permanent, errclass.Of(err))
	require.ErrorContains(t, err, "acme: post: encode request")

	_, err = client(s).Do(context.Background(), providerhttp.Request{Method: "BAD METHOD", URL: s.URL, Op: "odd"})
	require.Equal(t, errclass.Permanent, errclass.Of(err))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client(s).Do(ctx, providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"})
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.ErrorIs(t, err, context.Canceled)
}

func TestConnectionRefusedIsNotAccepted(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	c := client(newServer(t, http.StatusOK, nil, `{}`))
	_, err = c.Do(context.Background(), providerhttp.Request{Method: http.MethodPost, URL: "http://" + addr + "/", Op: "submit", Body: map[string]string{}})
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.True(t, errclass.NotAccepted(err), "nothing reached the provider: %v", err)

	_, err = client(newServer(t, http.StatusOK, nil, `{}`)).Do(context.Background(),
		providerhttp.Request{Method: http.MethodGet, URL: "http://acme.invalid/", Op: "get"})
	require.Error(t, err)
	require.False(t, errclass.NotAccepted(err), "other transport failures are not known to be refusals")
}

type failingCredential struct{}

func (failingCredential) Apply(*http.Request) (string, error) {
	return "", errors.New("no token today")
}

func TestCredentialFailureIsRetryable(t *testing.T) {
	t.Parallel()
	s := newServer(t, http.StatusOK, nil, `{}`)
	c := client(s)
	c.Credential = failingCredential{}
	_, err := c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: s.URL, Op: "get"})
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.EqualError(t, err, "acme: get: no token today")
	last, _ := s.request()
	require.Nil(t, last, "nothing is sent without the credential")
}

// leakyTransport fails with an error that quotes the request's headers, as
// a careless custom RoundTripper might.
type leakyTransport struct{}

func (leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.Join(context.DeadlineExceeded, errors.New("dial failed for "+r.Header.Get("Authorization")))
}

func TestTransportErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	c := &providerhttp.Client{Provider: "acme", HTTP: &http.Client{Transport: leakyTransport{}}, Credential: providerhttp.StaticKey{Scheme: "Bearer", Key: secret}}
	_, err := c.Do(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: "http://acme.invalid/", Op: "get"})
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.NotContains(t, err.Error(), secret)
	require.Contains(t, err.Error(), providerhttp.Redacted)
	require.ErrorIs(t, err, context.DeadlineExceeded, "errors.Is sees through the redaction")
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		require.NotContains(t, e.Error(), secret, "nor does Unwrap reach the original text")
	}
}

func TestDecodeJSONAndErrorf(t *testing.T) {
	t.Parallel()
	c := &providerhttp.Client{Provider: "acme"}
	var v struct{ ID string }
	err := c.DecodeJSON("create thing", &providerhttp.Response{Status: 201, Body: []byte(`{"ID":`)}, &v, "body (the thing may exist)")
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.ErrorContains(t, err, "acme: create thing: HTTP 201 with an unreadable body (the thing may exist): ")
	require.NoError(t, c.DecodeJSON("get", &providerhttp.Response{Status: 200, Body: []byte(`{"ID":"x"}`)}, &v, "body"))
	require.Equal(t, "x", v.ID)

	err = c.Errorf(errclass.NotFound, "get thing 1", "gone %d", 2)
	require.EqualError(t, err, "acme: get thing 1: gone 2")
	require.Equal(t, errclass.NotFound, errclass.Of(err))
}

func TestCall(t *testing.T) {
	t.Parallel()
	ok := newServer(t, http.StatusAccepted, nil, `{"id":"7"}`)
	var v struct{ ID string }
	r, err := client(ok).Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: ok.URL, Op: "get"}, &v, "body")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Status)
	require.Equal(t, "7", v.ID)

	_, err = client(ok).Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: ok.URL, Op: "get"}, &v, "body", http.StatusOK)
	require.Equal(t, errclass.Retryable, errclass.Of(err), "a 202 where only 200 will do")
	require.ErrorContains(t, err, "acme: get: HTTP 202")

	bad := newServer(t, http.StatusNotFound, nil, `{"message":"no such thing"}`)
	c := client(bad)
	c.Problem = func(r *providerhttp.Response) providerhttp.Problem { return providerhttp.Problem{Message: "parsed"} }
	r, err = c.Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: bad.URL, Op: "get"}, &v, "body")
	require.Equal(t, errclass.NotFound, errclass.Of(err))
	require.ErrorContains(t, err, "HTTP 404: parsed")
	require.Equal(t, http.StatusNotFound, r.Status, "the answer comes with the error")

	garbled := newServer(t, http.StatusOK, nil, `{"id":`)
	_, err = client(garbled).Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: garbled.URL, Op: "get"}, &v, "thing body")
	require.Equal(t, errclass.Retryable, errclass.Of(err))
	require.ErrorContains(t, err, "with an unreadable thing body")
	_, err = client(garbled).Call(context.Background(), providerhttp.Request{Method: http.MethodGet, URL: garbled.URL, Op: "get"}, nil, "")
	require.NoError(t, err, "nothing to decode")
}
