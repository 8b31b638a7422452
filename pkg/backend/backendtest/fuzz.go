package backendtest

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Answer is one canned answer of a provider's API.
type Answer struct {
	Status int // 200..599
	Header http.Header
	Body   []byte
}

// FuzzOp is the adapter call a fuzz input makes.
type FuzzOp uint8

// The calls. FuzzFind is FuzzPoll for an adapter that is not a Finder.
const (
	FuzzSubmit FuzzOp = iota
	FuzzPoll
	FuzzCancel
	FuzzFind
	fuzzOps
)

// FuzzSeed is one seed input of Fuzz: a call and the provider's answers,
// First to the call's first request and Then to every later one (fal's
// result after its status, a listing's next pages, a redirect's target).
type FuzzSeed struct {
	Op          FuzzOp
	First, Then Answer
	// Handle is what Poll and Cancel are given; "" means
	// FuzzHarness.Handle.
	Handle backend.Handle
}

// FuzzHarness is what Fuzz needs to know about one adapter.
type FuzzHarness struct {
	// NewBackend returns an adapter that sends its calls with client and
	// Key as its credential. Required.
	NewBackend func(client *http.Client) (backend.Backend, error)
	// Request is what Submit and Find are asked.
	Request backend.SubmitRequest
	// Handle is a handle Submit could have returned.
	Handle backend.Handle
	// Seeds are the provider's documented answers and their edge cases.
	Seeds []FuzzSeed
}

// FuzzSince is the time Find is asked to look back to.
var FuzzSince = Start

// Fuzz runs f over one adapter: each input is a call (Submit, Poll, Cancel
// or Find), a handle, and the provider's answers to it, in process (no
// network), with any status, headers and body. Whatever the answers, the
// adapter never panics and keeps the contract of backend.Backend and
// backend.Finder: errors are classified (errclass) and never hold Key; a
// handle is returned with a nil error only; a Status is one of the states,
// succeeded with a video URL, failed with a classified Err, its progress in
// 0..1 (see RequireStatus). Headers of an input are "Name: value" lines,
// sent with both answers.
func Fuzz(f *testing.F, h FuzzHarness) {
	require.NotNil(f, h.NewBackend, "FuzzHarness.NewBackend")
	for _, s := range h.Seeds {
		handle := cmpHandle(s.Handle, h.Handle)
		f.Add(uint8(s.Op), statusSeed(s.First.Status), s.First.Body, statusSeed(s.Then.Status), s.Then.Body,
			headerLines(s.First.Header), string(handle))
	}
	f.Fuzz(func(t *testing.T, op uint8, status1 uint16, body1 []byte, status2 uint16, body2 []byte, header, handle string) {
		hdr := parseHeader(header)
		first := Answer{Status: fuzzStatus(status1), Header: hdr, Body: body1}
		then := Answer{Status: fuzzStatus(status2), Header: hdr, Body: body2}
		b, err := h.NewBackend(CannedClient(first, then))
		require.NoError(t, err)
		ctx := context.Background()
		switch FuzzOp(op % uint8(fuzzOps)) {
		case FuzzSubmit:
			got, err := b.Submit(ctx, h.Request)
			RequireHandle(t, got, err)
		case FuzzCancel:
			RequireClassifiedOrNil(t, b.Cancel(ctx, backend.Handle(handle)))
		case FuzzFind:
			if fd, ok := b.(backend.Finder); ok {
				got, found, err := fd.Find(ctx, h.Request, FuzzSince)
				RequireHandle(t, got, err)
				require.Equal(t, found, got != "", "found %t with handle %q", found, got)
				return
			}
			fallthrough
		case FuzzPoll:
			st, err := b.Poll(ctx, backend.Handle(handle))
			RequireStatus(t, st, err)
		}
	})
}

// OK is a 200 answer with body.
func OK(body string) Answer { return Answer{Status: http.StatusOK, Body: []byte(body)} }

// Seeds returns a seed for each of ops with each of firsts as the first
// answer and then as every later one.
func Seeds(ops []FuzzOp, then Answer, firsts ...Answer) []FuzzSeed {
	var out []FuzzSeed
	for _, a := range firsts {
		for _, op := range ops {
			out = append(out, FuzzSeed{Op: op, First: a, Then: then})
		}
	}
	return out
}

// ErrorAnswers are failures any provider may answer, with bodies in its
// error shape (problem makes one of a message): a rate limit with
// Retry-After, a refused credential whose text quotes the credential, an
// unknown generation, a bad request, a gateway's HTML page, an empty 503 and
// a redirect elsewhere.
func ErrorAnswers(problem func(msg string) string) []Answer {
	return []Answer{
		{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}, Body: []byte(problem("rate limit exceeded"))},
		{Status: http.StatusUnauthorized, Body: []byte(problem("invalid key " + Key))},
		{Status: http.StatusNotFound, Body: []byte(problem("not found"))},
		{Status: http.StatusBadRequest, Body: []byte(problem("invalid request"))},
		{Status: http.StatusBadGateway, Body: []byte("<html><body>502 Bad Gateway</body></html>")},
		{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"Wed, 25 Nov 2026 12:00:30 GMT"}}},
		{Status: http.StatusFound, Header: http.Header{"Location": {"https://elsewhere.test/x"}}},
	}
}

// CannedClient returns a client whose requests never leave the process:
// the first is answered with first, every later one with then.
func CannedClient(first, then Answer) *http.Client {
	return &http.Client{Transport: &canned{first: first, then: then}}
}

type canned struct {
	first, then Answer
	calls       atomic.Int32
}

func (c *canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	a := c.then
	if c.calls.Add(1) == 1 {
		a = c.first
	}
	h := a.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status: http.StatusText(a.Status), StatusCode: a.Status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.Body)), ContentLength: int64(len(a.Body)), Request: r,
	}, nil
}

// RequireStatus checks what Poll returned: a classified error without
// Key, or a Status of a known state whose Err is set (classified
// ContentSafety, Permanent or Retryable) exactly when it failed, with a
// video URL exactly when it succeeded, progress in 0..1 and no negative
// duration.
func RequireStatus(t testing.TB, st backend.Status, err error) {
	t.Helper()
	if err != nil {
		RequireClassifiedOrNil(t, err)
		return
	}
	require.Contains(t, []backend.State{backend.StatePending, backend.StateRunning, backend.StateSucceeded,
		backend.StateFailed, backend.StateCanceled}, st.State)
	require.False(t, math.IsNaN(st.Progress), "progress is NaN")
	require.True(t, st.Progress >= 0 && st.Progress <= 1, "progress %v", st.Progress)
	require.GreaterOrEqual(t, st.DurationSeconds, 0)
	require.Equal(t, st.State == backend.StateSucceeded, st.VideoURL != "", "state %s with video URL %q", st.State, st.VideoURL)
	require.Equal(t, st.State == backend.StateFailed, st.Err != nil, "state %s with Err %v", st.State, st.Err)
	if st.Err != nil {
		require.Contains(t, []error{errclass.ContentSafety, errclass.Permanent, errclass.Retryable}, errclass.Of(st.Err), st.Err)
		require.NotContains(t, st.Err.Error(), Key)
	}
}

// RequireHandle checks what Submit or Find returned: a classified error
// without Key and no handle, or no error.
func RequireHandle(t testing.TB, h backend.Handle, err error) {
	t.Helper()
	if err != nil {
		require.Empty(t, h, "a handle with the error %v", err)
		RequireClassifiedOrNil(t, err)
	}
}

// RequireClassifiedOrNil checks that err is nil, or classified and free of
// Key.
func RequireClassifiedOrNil(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	require.NotNil(t, errclass.Of(err), "unclassified error: %v", err)
	require.NotContains(t, err.Error(), Key)
}

// fuzzStatus maps any number to a status from 200 to 599; statusSeed is
// its inverse for seeds (0 means 200).
func fuzzStatus(n uint16) int { return 200 + int(n)%400 }

func statusSeed(status int) uint16 {
	if status < 200 {
		return 0
	}
	return uint16(status - 200)
}

func cmpHandle(h, fallback backend.Handle) backend.Handle {
	if h == "" {
		return fallback
	}
	return h
}

// parseHeader reads "Name: value" lines; headerLines writes them.
func parseHeader(s string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for line := range strings.SplitSeq(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) != "" {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}

func headerLines(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}
