package netguard_test

import (
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/netguard/netguardtest"
)

const public = netguardtest.PublicAddr

// listener accepts connections until the test ends.
func listener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// TestDialRebinding: a name that resolves to a public address first and
// to loopback next is dialled at the address checked, and refused the
// second time; each dial resolves once.
func TestDialRebinding(t *testing.T) {
	t.Parallel()
	n := netguardtest.New(listener(t)).Answer("rebind.example", public).Answer("rebind.example", "127.0.0.1")
	p := n.Policy()

	conn, err := p.DialContext(t.Context(), "tcp", "rebind.example:443")
	require.NoError(t, err)
	_ = conn.Close()
	require.Equal(t, []string{public + ":443"}, n.Dialed(), "dialled the address checked, not the name")
	require.Equal(t, 1, n.Lookups("rebind.example"), "one lookup per dial")

	_, err = p.DialContext(t.Context(), "tcp", "rebind.example:443")
	var refused *netguard.RefusedError
	require.ErrorAs(t, err, &refused)
	require.ErrorIs(t, err, errclass.Permanent)
	require.EqualError(t, err, "netguard: refusing to connect to rebind.example (127.0.0.1): loopback address")
	require.Len(t, n.Dialed(), 1, "nothing dialled the second time")
	require.Equal(t, 2, n.Lookups("rebind.example"))
}

func TestDialSkipsRefusedAddresses(t *testing.T) {
	t.Parallel()
	n := netguardtest.New(listener(t)).
		Answer("mixed.example", "10.0.0.1", "::ffff:127.0.0.1", public).
		Answer("inside.example", "10.0.0.1", "169.254.169.254")
	p := n.Policy()
	conn, err := p.DialContext(t.Context(), "tcp", "mixed.example:80")
	require.NoError(t, err)
	_ = conn.Close()
	require.Equal(t, []string{public + ":80"}, n.Dialed())

	_, err = p.DialContext(t.Context(), "tcp", "inside.example:80")
	require.EqualError(t, err, "netguard: refusing to connect to inside.example (10.0.0.1): private address", "the first refusal")
	require.Len(t, n.Dialed(), 1)
}

func TestDialLiteralAddresses(t *testing.T) {
	t.Parallel()
	n := netguardtest.New(listener(t))
	p := n.Policy()
	for addr, want := range map[string]string{
		"127.0.0.1:80":          "127.0.0.1: loopback address",
		"[::ffff:127.0.0.1]:80": "::ffff:127.0.0.1: IPv4-mapped loopback address",
		"169.254.169.254:80":    "169.254.169.254: link-local address (cloud metadata server)",
		"[fd00::1]:80":          "fd00::1: unique-local address",
		"[64:ff9b::7f00:1]:80":  "64:ff9b::7f00:1: NAT64 loopback address",
		"0.0.0.0:80":            "0.0.0.0: unspecified address",
	} {
		_, err := p.DialContext(t.Context(), "tcp", addr)
		require.EqualError(t, err, "netguard: refusing to connect to "+want, addr)
	}
	require.Empty(t, n.Dialed())

	conn, err := p.DialContext(t.Context(), "tcp", "[::ffff:"+public+"]:80")
	require.NoError(t, err)
	_ = conn.Close()
	require.Equal(t, []string{public + ":80"}, n.Dialed(), "a mapped public address is dialled as IPv4, not looked up")
}

func TestDialAllowPrivate(t *testing.T) {
	t.Parallel()
	n := netguardtest.New(listener(t)).Answer("sim.local", "127.0.0.1")
	p := n.Policy()
	p.AllowPrivate = true
	conn, err := p.DialContext(t.Context(), "tcp", "sim.local:8080")
	require.NoError(t, err)
	_ = conn.Close()
	require.Equal(t, []string{"127.0.0.1:8080"}, n.Dialed())
}

// TestDialDefaultDialer dials for real: loopback is refused before any
// socket, AllowPrivate reaches the local listener, and only tcp with a
// numeric port is dialled.
func TestDialDefaultDialer(t *testing.T) {
	t.Parallel()
	addr := listener(t)
	_, err := (&netguard.Policy{}).DialContext(t.Context(), "tcp", addr)
	require.ErrorIs(t, err, errclass.Permanent)

	conn, err := (&netguard.Policy{AllowPrivate: true}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	_ = conn.Close()

	_, err = (&netguard.Policy{}).DialContext(t.Context(), "udp", "8.8.8.8:53")
	require.ErrorContains(t, err, `network "udp" refused`)
	_, err = (&netguard.Policy{}).DialContext(t.Context(), "tcp", "8.8.8.8:http")
	require.ErrorContains(t, err, `port "http" is not a number`)
}

// TestDialControl: the default dialer's Control hook refuses a socket
// whose address is not public, whatever led to it.
func TestDialControl(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, netguard.Control("tcp4", "127.0.0.1:80", nil), errclass.Permanent)
	require.ErrorIs(t, netguard.Control("tcp6", "[::ffff:10.0.0.1]:80", nil), errclass.Permanent)
	require.ErrorIs(t, netguard.Control("tcp6", "[fe80::1%eth0]:80", nil), errclass.Permanent)
	require.Error(t, netguard.Control("tcp4", "nonsense", nil))
	require.NoError(t, netguard.Control("tcp4", public+":443", nil))
}
