package outputtest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard/netguardtest"
	"github.com/aiprod/aiprod/pkg/output"
)

// guarded is the suite's Config modification for a Copier that refuses
// private networks and resolves and dials through n when given.
func guarded(n *netguardtest.Network) func(*output.Config) {
	return func(c *output.Config) {
		c.AllowPrivateNetworks = false
		if n != nil {
			c.Resolver, c.Dial = n, n.Dial
		}
	}
}

func port(s *source) string { return s.URL[strings.LastIndexByte(s.URL, ':')+1:] }

func testNotVideo(t *testing.T, s suite) {
	h := s.harness(t)
	page := []byte("<!doctype html><html><body>metadata token</body></html>")
	for i, src := range []*source{
		serve(t, video(page, "text/html; charset=utf-8")),
		serve(t, video(page, "")),
		serve(t, video(page, "application/octet-stream")),
		serve(t, video(Video(22, 1000), "application/json")),
	} {
		_, err := h.Copier.Copy(ctx(t), "job-22", 1, src.URL+"/v.mp4")
		requireClass(t, err, errclass.Permanent)
		require.ErrorContains(t, err, "video", "case %d", i)
	}
	requireNothingWritten(t, h, "job-22", 1)

	webm := append([]byte{0x1a, 0x45, 0xdf, 0xa3}, Video(23, 1000)...)
	_, err := h.Copier.Copy(ctx(t), "job-22", 2, serve(t, video(webm, "application/octet-stream")).URL+"/v.webm")
	require.NoError(t, err)
	o, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-22", 2))
	require.True(t, ok)
	require.Equal(t, "video/webm", o.ContentType)
}

// testPrivateNetworksRefused: a source on loopback, by address, by its
// IPv4-mapped address and by name, is refused before any request reaches
// it; allowing private networks lets it through.
func testPrivateNetworksRefused(t *testing.T, s suite) {
	h := s.harness(t, guarded(nil))
	data := Video(24, 1000)
	secret := serve(t, video(data, "video/mp4"))
	for _, u := range []string{
		secret.URL + "/secret?sig=S1GNATURE",
		"http://[::ffff:127.0.0.1]:" + port(secret) + "/secret",
		"http://localhost:" + port(secret) + "/secret",
	} {
		_, err := h.Copier.Copy(ctx(t), "job-24", 1, u)
		requireClass(t, err, errclass.Permanent)
		require.ErrorContains(t, err, "loopback", u)
		require.NotContains(t, err.Error(), "S1GNATURE")
	}
	require.Zero(t, secret.hits.Load(), "a request reached the loopback server")
	requireNothingWritten(t, h, "job-24", 1)

	open := s.harness(t)
	_, err := open.Copier.Copy(ctx(t), "job-24", 1, secret.URL+"/v.mp4")
	require.NoError(t, err, "AllowPrivateNetworks")
	o, ok := open.Get(t, open.Config.Bucket, open.Config.ObjectName("job-24", 1))
	require.True(t, ok)
	require.Equal(t, data, o.Data)
}

// testRedirectToPrivateRefused: a public host is copied, but its redirect
// to loopback (by address or by a name resolving there) is refused.
func testRedirectToPrivateRefused(t *testing.T, s suite) {
	data := Video(25, 1000)
	inside := serve(t, video(data, "video/mp4"))
	outside := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-address":
			http.Redirect(w, r, inside.URL+"/secret", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://inside.example:"+port(inside)+"/secret", http.StatusFound)
		default:
			video(data, "video/mp4")(w, r)
		}
	})
	n := netguardtest.New(outside.Listener.Addr().String()).
		Answer("cdn.example", netguardtest.PublicAddr).Answer("inside.example", "127.0.0.1")
	h := s.harness(t, guarded(n))

	_, err := h.Copier.Copy(ctx(t), "job-25", 1, "http://cdn.example/v.mp4")
	require.NoError(t, err, "a public host is copied")
	for _, p := range []string{"/to-address", "/to-name"} {
		_, err := h.Copier.Copy(ctx(t), "job-25", 2, "http://cdn.example"+p)
		requireClass(t, err, errclass.Permanent)
		require.ErrorContains(t, err, "loopback address", p)
	}
	require.Zero(t, inside.hits.Load(), "a redirect reached the loopback server")
	_, ok := h.Get(t, h.Config.Bucket, h.Config.ObjectName("job-25", 2))
	require.False(t, ok)
	for _, a := range n.Dialed() {
		require.Equal(t, netguardtest.PublicAddr+":80", a)
	}
}

// testRebindingRefused: a name that resolves to a public address, then to
// loopback, is refused on the connection that would reach loopback (the
// source closes every connection, so each copy dials).
func testRebindingRefused(t *testing.T, s suite) {
	data := Video(26, 1000)
	src := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		video(data, "video/mp4")(w, r)
	})
	n := netguardtest.New(src.Listener.Addr().String()).
		Answer("rebind.example", netguardtest.PublicAddr).Answer("rebind.example", "127.0.0.1")
	h := s.harness(t, guarded(n))

	_, err := h.Copier.Copy(ctx(t), "job-26", 1, "http://rebind.example/v.mp4")
	require.NoError(t, err)
	_, err = h.Copier.Copy(ctx(t), "job-26", 2, "http://rebind.example/v.mp4")
	requireClass(t, err, errclass.Permanent)
	require.ErrorContains(t, err, "rebind.example (127.0.0.1): loopback address")
	require.Equal(t, []string{netguardtest.PublicAddr + ":80"}, n.Dialed(), "dialled only the address checked")
	require.EqualValues(t, 1, src.hits.Load())
}
