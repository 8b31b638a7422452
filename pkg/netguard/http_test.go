package netguard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/netguard/netguardtest"
)

// server is a local HTTP server that counts the requests of each path.
type server struct {
	*httptest.Server
	hits map[string]*atomic.Int64
}

func newServer(t *testing.T, routes map[string]http.HandlerFunc) *server {
	t.Helper()
	s := &server{hits: map[string]*atomic.Int64{}}
	mux := http.NewServeMux()
	for path, h := range routes {
		n := &atomic.Int64{}
		s.hits[path] = n
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { n.Add(1); h(w, r) })
	}
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() string { return s.URL[strings.LastIndexByte(s.URL, ':')+1:] }

func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestClientRefusesLocalServers: the probes of issue 13 finding 2 against
// a server on loopback, by address, mapped address and name.
func TestClientRefusesLocalServers(t *testing.T) {
	t.Parallel()
	s := newServer(t, map[string]http.HandlerFunc{"/secret": text("token")})
	c := (&netguard.Policy{}).Client()
	defer c.CloseIdleConnections()
	for _, u := range []string{
		s.URL + "/secret?sig=s3cr3t",
		"http://[::ffff:127.0.0.1]:" + s.port() + "/secret",
		"http://localhost:" + s.port() + "/secret",
	} {
		_, err := get(c, u)
		require.ErrorIs(t, err, errclass.Permanent, u)
		var refused *netguard.RefusedError
		require.ErrorAs(t, err, &refused, u)
		require.Contains(t, refused.Reason, "loopback", u)
	}
	require.Zero(t, s.hits["/secret"].Load(), "the secret was requested")

	allow := (&netguard.Policy{AllowPrivate: true}).Client()
	defer allow.CloseIdleConnections()
	body, err := get(allow, s.URL+"/secret")
	require.NoError(t, err)
	require.Equal(t, "token", body, "AllowPrivate reaches loopback")
}

// TestClientRedirects: a public host (a local server reached through an
// injected resolver and dialer) that redirects to loopback is refused at
// the hop, by address and by a name that resolves to loopback; redirects
// stop after MaxRedirects and go only to http and https.
func TestClientRedirects(t *testing.T) {
	t.Parallel()
	inside := newServer(t, map[string]http.HandlerFunc{"/secret": text("token")})
	outside := newServer(t, map[string]http.HandlerFunc{
		"/to-loopback": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, inside.URL+"/secret", http.StatusFound)
		},
		"/to-name": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://inside.example:"+inside.port()+"/secret", http.StatusFound)
		},
		"/to-file": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		},
		"/loop":  func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) },
		"/hop":   func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/video", http.StatusFound) },
		"/video": text("video"),
	})
	n := netguardtest.New(outside.Listener.Addr().String()).Answer("cdn.example", public).Answer("inside.example", "127.0.0.1")
	p := n.Policy()
	c := p.Client()
	defer c.CloseIdleConnections()

	body, err := get(c, "http://cdn.example/hop")
	require.NoError(t, err)
	require.Equal(t, "video", body, "a redirect to a public host is followed")

	for path, want := range map[string]string{
		"/to-loopback": "refusing to connect to 127.0.0.1: loopback address",
		"/to-name":     "refusing to connect to inside.example (127.0.0.1): loopback address",
		"/to-file":     `redirect to scheme "file" refused`,
		"/loop":        "stopped after 5 redirects",
	} {
		_, err := get(c, "http://cdn.example"+path)
		require.ErrorIs(t, err, errclass.Permanent, path)
		require.ErrorContains(t, err, want, path)
	}
	require.Zero(t, inside.hits["/secret"].Load(), "the redirect reached loopback")
	require.EqualValues(t, 1+netguard.MaxRedirects, outside.hits["/loop"].Load())
}

// TestClientRebinding: a name that answers a public address, then
// loopback, is refused on the connection that would reach loopback (the
// server closes each connection, so each request dials).
func TestClientRebinding(t *testing.T) {
	t.Parallel()
	s := newServer(t, map[string]http.HandlerFunc{"/v": func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "video")
	}})
	n := netguardtest.New(s.Listener.Addr().String()).Answer("rebind.example", public).Answer("rebind.example", "127.0.0.1")
	p := n.Policy()
	c := p.Client()
	defer c.CloseIdleConnections()

	body, err := get(c, "http://rebind.example/v")
	require.NoError(t, err)
	require.Equal(t, "video", body)
	_, err = get(c, "http://rebind.example/v")
	require.ErrorIs(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "refusing to connect to rebind.example (127.0.0.1): loopback address")
	require.Equal(t, []string{public + ":80"}, n.Dialed())
}

// TestTransportIgnoresProxy: a proxy from the environment would make the
// connection unchecked.
func TestTransportIgnoresProxy(t *testing.T) {
	t.Parallel()
	tr := (&netguard.Policy{}).Transport()
	require.Nil(t, tr.Proxy)
	require.NotNil(t, tr.DialContext)
	u, err := url.Parse("http://example.com")
	require.NoError(t, err)
	require.NoError(t, (&netguard.Policy{}).CheckRedirect(&http.Request{URL: u}, make([]*http.Request, netguard.MaxRedirects)))
	require.Error(t, (&netguard.Policy{}).CheckRedirect(&http.Request{URL: u}, make([]*http.Request, netguard.MaxRedirects+1)))
}
