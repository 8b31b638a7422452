package netguard_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/netguard"
)

// TestReason is the guard's judgement of each kind of address: "" is
// allowed, anything else is the reason given.
func TestReason(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		// Public.
		"8.8.8.8":          "",
		"93.184.215.14":    "",
		"172.32.0.1":       "",
		"100.128.0.1":      "",
		"169.255.0.1":      "",
		"2606:4700::1111":  "",
		"2a00:1450:4001::": "",
		// Loopback, unspecified.
		"127.0.0.1":       "loopback address",
		"127.255.255.254": "loopback address",
		"::1":             "loopback address",
		"0.0.0.0":         "unspecified address",
		"0.1.2.3":         "'this network' address",
		"::":              "unspecified address",
		// Private, shared, link-local, unique-local.
		"10.1.2.3":        "private address",
		"172.16.0.1":      "private address",
		"172.31.255.255":  "private address",
		"192.168.1.1":     "private address",
		"100.64.0.1":      "carrier-grade NAT (shared) address",
		"100.127.255.255": "carrier-grade NAT (shared) address",
		"169.254.169.254": "link-local address (cloud metadata server)",
		"169.254.1.1":     "link-local address",
		"fe80::1":         "link-local address",
		"fe80::1%eth0":    "link-local address",
		"fc00::1":         "unique-local address",
		"fd12:3456::1":    "unique-local address",
		"fec0::1":         "site-local address (deprecated)",
		// Multicast, broadcast, reserved, documentation.
		"224.0.0.1":       "multicast address",
		"239.255.255.250": "multicast address",
		"ff02::1":         "multicast address",
		"255.255.255.255": "broadcast address",
		"240.0.0.1":       "reserved address",
		"192.0.2.1":       "documentation address",
		"2001:db8::1":     "documentation address",
		"198.18.0.1":      "benchmarking address",
		"192.0.0.8":       "IETF protocol assignment address",
		// IPv4 inside IPv6.
		"::ffff:127.0.0.1":       "IPv4-mapped loopback address",
		"::ffff:10.0.0.1":        "IPv4-mapped private address",
		"::ffff:169.254.169.254": "IPv4-mapped link-local address (cloud metadata server)",
		"::ffff:8.8.8.8":         "",
		"::127.0.0.1":            "IPv4-compatible address (deprecated)",
		"::8.8.8.8":              "IPv4-compatible address (deprecated)",
		"64:ff9b::127.0.0.1":     "NAT64 loopback address",
		"64:ff9b::a9fe:a9fe":     "NAT64 link-local address (cloud metadata server)",
		"64:ff9b::8.8.8.8":       "",
		"64:ff9b:1::1":           "local-use NAT64 address",
		"2002:7f00:1::":          "6to4 loopback address",
		"2002:c0a8:101::1":       "6to4 private address",
		"2002:808:808::1":        "",
		"2001::1":                "Teredo address",
		// Other non-global IPv6.
		"100::1":  "discard-only address",
		"4000::1": "non-global IPv6 address",
		"::2":     "IPv4-compatible address (deprecated)",
	} {
		a := netip.MustParseAddr(addr)
		assert.Equal(t, want, netguard.Reason(a), addr)
		err := netguard.CheckAddr(a)
		if want == "" {
			assert.NoError(t, err, addr)
			continue
		}
		require.ErrorIs(t, err, errclass.Permanent, addr)
		assert.EqualError(t, err, "netguard: refusing to connect to "+a.String()+": "+want)
	}
	assert.Equal(t, "invalid address", netguard.Reason(netip.Addr{}))
}

func TestRefusedErrorNamesHostAndAddress(t *testing.T) {
	t.Parallel()
	err := &netguard.RefusedError{Host: "rebind.example", Addr: netip.MustParseAddr("127.0.0.1"), Reason: "loopback address"}
	require.EqualError(t, err, "netguard: refusing to connect to rebind.example (127.0.0.1): loopback address")
	require.Equal(t, errclass.Permanent, errclass.Of(err))
	err = &netguard.RefusedError{Host: "localhost", Reason: "loopback name"}
	require.EqualError(t, err, "netguard: refusing to connect to localhost: loopback name")
}
