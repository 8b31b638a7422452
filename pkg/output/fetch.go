package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// ResponseHeaderTimeoutDefault bounds the wait for a source's response
// headers with the default HTTP client; the body may take as long as ctx
// allows.
const ResponseHeaderTimeoutDefault = time.Minute

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = ResponseHeaderTimeoutDefault
	return &http.Client{Transport: t}
}

// maxRedirects is net/http's own limit, kept when the caller's client has
// no CheckRedirect.
const maxRedirects = 10

// fetcher downloads http(s) sources. Safe for concurrent use.
type fetcher struct {
	client   *http.Client
	maxBytes int64
}

// newFetcher returns a fetcher over a copy of c whose redirects are
// limited to http and https (c's own CheckRedirect still applies).
func newFetcher(c *http.Client, maxBytes int64) *fetcher {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return errclass.New(errclass.Permanent, "redirect to scheme %q refused", s)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errclass.New(errclass.Permanent, "stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &fetcher{client: &cc, maxBytes: maxBytes}
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

// open GETs u and checks the response's status and declared length, in a
// CLIENT span (the URL without its query: signed URLs carry credentials
// there).
func (f *fetcher) open(ctx context.Context, u *url.URL) (d *download, err error) {
	ctx, span := telemetry.StartHTTPClient(ctx, nil, "HTTP GET output source", http.MethodGet, u.String())
	defer func() { telemetry.EndHTTPClient(span, 0, err) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errclass.New(errclass.Permanent, "source %s: bad request", redact(u))
	}
	req.Header.Set("Accept", "video/*, */*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL with its query: replace it.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact(u)
		}
		if errclass.Of(err) == errclass.Permanent { // our CheckRedirect
			return nil, fmt.Errorf("download source: %w", err)
		}
		return nil, errclass.Wrap(errclass.Retryable, err, "download source")
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, statusError(resp, redact(u))
	}
	if resp.ContentLength > f.maxBytes {
		_ = resp.Body.Close()
		return nil, errclass.New(errclass.Permanent, "source %s is %d bytes, more than the %d allowed", redact(u), resp.ContentLength, f.maxBytes)
	}
	return &download{
		Body:        &sourceReader{r: resp.Body, max: f.maxBytes, src: redact(u)},
		ContentType: contentType(resp.Header.Get("Content-Type")),
		Length:      resp.ContentLength,
		closer:      resp.Body,
	}, nil
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

// contentType keeps a source's media type when it names one; absent,
// unparsable or generic binary types become ContentTypeDefault.
func contentType(v string) string {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt == "application/octet-stream" || mt == "binary/octet-stream" {
		return ContentTypeDefault
	}
	return mime.FormatMediaType(mt, params)
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

// redact is u without userinfo, query and fragment: what errors may show
// of a source URL (signed URLs carry their credentials in the query).
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}
