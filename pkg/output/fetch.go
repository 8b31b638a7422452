package output

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// ResponseHeaderTimeoutDefault bounds the wait for a source's response
// headers; the body may take as long as ctx allows.
const ResponseHeaderTimeoutDefault = time.Minute

// fetcher downloads http(s) sources. Safe for concurrent use.
type fetcher struct {
	client   *http.Client
	maxBytes int64
}

// newFetcher returns a fetcher whose connections, redirects included, go
// through cfg's network guard (package netguard): non-public addresses are
// refused unless cfg.AllowPrivateNetworks, redirects go only to http and
// https, netguard.MaxRedirects at most.
func newFetcher(cfg Config) *fetcher {
	p := netguard.Policy{AllowPrivate: cfg.AllowPrivateNetworks, Resolver: cfg.Resolver, Dial: cfg.Dial}
	t := p.Transport()
	t.ResponseHeaderTimeout = ResponseHeaderTimeoutDefault
	return &fetcher{client: &http.Client{Transport: t, CheckRedirect: p.CheckRedirect}, maxBytes: cfg.MaxBytes}
}

// download is an open http(s) source. Read it through Body, which enforces
// the size limit and classifies read errors; Close it.
type download struct {
	Body        *sourceReader
	ContentType string
	Length      int64 // from Content-Length; -1 when the source did not say
	closer      io.Closer
}

func (d *download) Close() error { return d.closer.Close() }

// open GETs u and checks the response's status, declared length and
// content type, in a CLIENT span (the URL without its query: signed URLs
// carry credentials there).
func (f *fetcher) open(ctx context.Context, u *url.URL) (d *download, err error) {
	ctx, span := telemetry.StartHTTPClient(ctx, nil, "HTTP GET output source", http.MethodGet, u.String())
	defer func() { telemetry.EndHTTPClient(span, 0, err) }()
	src := netguard.Redact(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errclass.New(errclass.Permanent, "source %s: bad request", src)
	}
	req.Header.Set("Accept", "video/*, application/octet-stream;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL with its query: replace it.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = src
		}
		if errclass.Of(err) == errclass.Permanent { // refused by the guard or a redirect rule
			return nil, fmt.Errorf("download source: %w", err)
		}
		return nil, errclass.Wrap(errclass.Retryable, err, "download source")
	}
	d, err = f.accept(resp, src)
	if err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return d, nil
}

// accept checks a source's response (its status, declared length and
// content type) and returns it as a download.
func (f *fetcher) accept(resp *http.Response, src string) (*download, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, src)
	}
	if resp.ContentLength > f.maxBytes {
		return nil, errclass.New(errclass.Permanent, "source %s is %d bytes, more than the %d allowed", src, resp.ContentLength, f.maxBytes)
	}
	br := bufio.NewReader(resp.Body)
	ct, err := videoType(src, resp.Header.Get("Content-Type"), func() ([]byte, error) { return peek(br, src) })
	if err != nil {
		return nil, err
	}
	return &download{
		Body:        &sourceReader{r: br, max: f.maxBytes, src: src},
		ContentType: ct,
		Length:      resp.ContentLength,
		closer:      resp.Body,
	}, nil
}

// peek returns the first sniffLen bytes of a body (fewer when it is
// shorter) without consuming them; an empty body or a read error is
// Retryable, as when the body is copied.
func peek(br *bufio.Reader, src string) ([]byte, error) {
	b, err := br.Peek(sniffLen)
	switch {
	case len(b) > 0 && (err == nil || errors.Is(err, io.EOF)):
		return b, nil
	case errors.Is(err, io.EOF):
		return nil, errclass.New(errclass.Retryable, "source %s is empty", src)
	default:
		return nil, errclass.Wrap(errclass.Retryable, err, fmt.Sprintf("read source %s", src))
	}
}

// statusError classifies a source's non-200 answer. 404 and 410 are how
// expired provider URLs answer: Permanent. Other statuses follow
// errclass.FromHTTPStatus (5xx, 408, 429, and 401/403 Retryable), except that
// no class other than Retryable and Permanent comes out of a download.
func statusError(resp *http.Response, src string) error {
	code := resp.StatusCode
	switch class := errclass.FromHTTPStatus(code); {
	case code == http.StatusNotFound || code == http.StatusGone:
		return errclass.New(errclass.Permanent, "source %s answered %d: gone (expired?)", src, code)
	case class == errclass.Retryable:
		e := &errclass.Error{Class: errclass.Retryable, Msg: fmt.Sprintf("source %s answered %d", src, code)}
		if d, ok := errclass.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		return e
	default:
		return errclass.New(errclass.Permanent, "source %s answered %d", src, code)
	}
}

// sourceReader reads a download. It fails with a Permanent error as soon as
// more than max bytes arrived, and classifies read errors as Retryable. Err
// is the error it returned, to tell source errors from those of the writer
// it is copied to.
type sourceReader struct {
	r    io.Reader
	n    int64
	max  int64
	src  string
	Err  error
	done bool
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.Err != nil {
		return 0, s.Err
	}
	if room := s.max - s.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	switch {
	case s.n > s.max:
		s.Err = errclass.New(errclass.Permanent, "source %s is more than the %d bytes allowed", s.src, s.max)
		return 0, s.Err
	case err == io.EOF:
		s.done = true
		return n, err
	case err != nil:
		s.Err = errclass.Wrap(errclass.Retryable, err, fmt.Sprintf("read source %s after %d bytes", s.src, s.n))
		return n, s.Err
	}
	return n, nil
}

// N is the number of bytes read so far.
func (s *sourceReader) N() int64 { return s.n }

// complete checks, after the source was read to EOF, that it is not empty
// and that it matches the Content-Length it announced (length < 0: none).
func (s *sourceReader) complete(length int64) error {
	switch {
	case !s.done:
		return errclass.New(errclass.Retryable, "source %s not read to its end", s.src)
	case s.n == 0:
		return errclass.New(errclass.Retryable, "source %s is empty", s.src)
	case length >= 0 && s.n != length:
		return errclass.New(errclass.Retryable, "source %s sent %d bytes of the %d announced", s.src, s.n, length)
	}
	return nil
}
