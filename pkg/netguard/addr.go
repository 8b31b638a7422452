package netguard

import (
	"net/netip"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// RefusedError is a connection the guard refused. It is classified
// errclass.Permanent (errors.Is(err, errclass.Permanent)).
type RefusedError struct {
	// Host is the name that resolved to Addr; empty when the address was
	// given as is.
	Host string
	// Addr is the refused address; invalid for a host refused by name
	// (CheckURL).
	Addr netip.Addr
	// Reason says what Addr or Host is, e.g. "loopback address".
	Reason string
}

func (e *RefusedError) Error() string {
	target := e.Host
	switch {
	case e.Addr.IsValid() && e.Host != "":
		target = e.Host + " (" + e.Addr.String() + ")"
	case e.Addr.IsValid():
		target = e.Addr.String()
	}
	return "netguard: refusing to connect to " + target + ": " + e.Reason
}

// Unwrap makes the error errclass.Permanent.
func (e *RefusedError) Unwrap() error { return errclass.Permanent }

// rule is a range of addresses refused for a reason.
type rule struct {
	prefix netip.Prefix
	reason string
}

func rules(pairs ...string) []rule {
	rs := make([]rule, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		rs = append(rs, rule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return rs
}

// refused4 are the IPv4 ranges refused, most specific reason first.
var refused4 = rules(
	"0.0.0.0/32", "unspecified address",
	"0.0.0.0/8", "'this network' address",
	"127.0.0.0/8", "loopback address",
	"10.0.0.0/8", "private address",
	"172.16.0.0/12", "private address",
	"192.168.0.0/16", "private address",
	"169.254.169.254/32", "link-local address (cloud metadata server)",
	"169.254.0.0/16", "link-local address",
	"100.64.0.0/10", "carrier-grade NAT (shared) address",
	"192.0.0.0/24", "IETF protocol assignment address",
	"192.0.2.0/24", "documentation address",
	"198.51.100.0/24", "documentation address",
	"203.0.113.0/24", "documentation address",
	"198.18.0.0/15", "benchmarking address",
	"224.0.0.0/4", "multicast address",
	"255.255.255.255/32", "broadcast address",
	"240.0.0.0/4", "reserved address",
)

// refused6 are IPv6 ranges refused with a reason of their own; anything
// else outside 2000::/3 is refused as "non-global IPv6 address".
var refused6 = rules(
	"::/128", "unspecified address",
	"::1/128", "loopback address",
	"::/96", "IPv4-compatible address (deprecated)",
	"64:ff9b:1::/48", "local-use NAT64 address",
	"100::/64", "discard-only address",
	"2001::/32", "Teredo address",
	"2001:db8::/32", "documentation address",
	"fc00::/7", "unique-local address",
	"fe80::/10", "link-local address",
	"fec0::/10", "site-local address (deprecated)",
	"ff00::/8", "multicast address",
)

var (
	global6 = netip.MustParsePrefix("2000::/3")
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
)

// Reason says why a is refused, or "" when a is a public address that the
// guard lets through. Zones are ignored.
func Reason(a netip.Addr) string {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return "invalid address"
	case a.Is4():
		return match(refused4, a)
	case a.Is4In6():
		return embedded("IPv4-mapped", a.Unmap())
	case nat64.Contains(a):
		b := a.As16()
		return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
	case sixTo4.Contains(a):
		b := a.As16()
		return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
	}
	if r := match(refused6, a); r != "" {
		return r
	}
	if !global6.Contains(a) {
		return "non-global IPv6 address"
	}
	return ""
}

func match(rs []rule, a netip.Addr) string {
	for _, r := range rs {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// embedded judges an IPv6 address by the IPv4 address v4 it carries.
func embedded(form string, v4 netip.Addr) string {
	if r := match(refused4, v4); r != "" {
		return form + " " + r
	}
	return ""
}

// CheckAddr returns a *RefusedError when a is not a public address, else
// nil. It is the guard's whole judgement of an address; Policy applies it
// unless AllowPrivate.
func CheckAddr(a netip.Addr) error {
	if r := Reason(a); r != "" {
		return &RefusedError{Addr: a, Reason: r}
	}
	return nil
}
