package netguard

import (
	"net/http"
	"net/url"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// MaxRedirects is the most redirects Policy.CheckRedirect follows.
const MaxRedirects = 5

// Transport returns a clone of http.DefaultTransport (its timeouts, HTTP/2,
// connection pool) that connects only through a copy of p's DialContext and
// never through a proxy. The caller may tune it further (e.g.
// ResponseHeaderTimeout) but must keep DialContext and Proxy.
func (p *Policy) Transport() *http.Transport {
	pc := *p
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // a proxy would make the connection, unchecked
	t.DialContext = pc.DialContext
	t.DialTLSContext = nil
	return t
}

// Client returns an *http.Client over p.Transport() with p.CheckRedirect,
// and no overall timeout (bound requests with their context).
func (p *Policy) Client() *http.Client {
	pc := *p
	return &http.Client{Transport: pc.Transport(), CheckRedirect: pc.CheckRedirect}
}

// CheckRedirect is an http.Client.CheckRedirect: it follows at most
// MaxRedirects redirects, only to http and https, and refuses early a hop
// that CheckURL refuses (unless AllowPrivate); the dial of each hop is
// checked anyway. Its errors are errclass.Permanent.
func (p *Policy) CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return errclass.New(errclass.Permanent, "netguard: stopped after %d redirects", MaxRedirects)
	}
	return p.checkURL(req.URL, "redirect to ")
}

// Redact is u without userinfo, query and fragment: what errors may show of
// a URL (signed URLs carry their credentials in the query). A query is
// shown as "?…".
func Redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}
