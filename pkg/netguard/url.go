package netguard

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// CheckURL is the early check of a URL a user supplies, for a policy that
// does not allow private networks: see Policy.CheckURL.
func CheckURL(rawURL string) error {
	var p Policy
	return p.CheckURL(rawURL)
}

// CheckURL reports why rawURL may not be requested, or nil: it must parse,
// be http or https and have a host; unless AllowPrivate, the host must not
// be an address CheckAddr refuses, nor a name that only resolves locally
// (localhost and *.localhost, single-label names, *.internal — the metadata
// server's metadata.google.internal among them —, *.local, *.home.arpa),
// nor a number that resolvers read as an IPv4 address (127.1, 2130706433,
// 0x7f.1). It resolves nothing: a public name may still resolve to a
// private address, which the dial refuses. Errors are errclass.Permanent
// (*RefusedError for a refused host) and show the host at most.
func (p *Policy) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the whole input, credentials included.
		return errclass.New(errclass.Permanent, "netguard: URL does not parse")
	}
	return p.checkURL(u, "")
}

// checkURL checks a parsed URL; what prefixes the scheme and host
// complaints ("redirect to ").
func (p *Policy) checkURL(u *url.URL, what string) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return errclass.New(errclass.Permanent, "netguard: %sscheme %q refused: only http and https", what, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return errclass.New(errclass.Permanent, "netguard: %sURL without a host", what)
	}
	if p.AllowPrivate {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(a)
	}
	if r := nameReason(strings.TrimSuffix(strings.ToLower(host), ".")); r != "" {
		return &RefusedError{Host: host, Reason: r}
	}
	return nil
}

// localSuffixes are domains that resolve only on a local network.
var localSuffixes = []string{".localhost", ".internal", ".local", ".home.arpa"}

// nameReason says why a lower-case host name (not an address) is refused,
// or "".
func nameReason(name string) string {
	last := name[strings.LastIndexByte(name, '.')+1:]
	switch {
	case name == "" || last == "":
		return "empty host name"
	case name == "localhost":
		return "loopback name"
	case numeric(last):
		// The WHATWG URL rule: a host ending in a number is an IPv4
		// address, which resolvers read in these forms too.
		return "IPv4 address in a non-standard form"
	case !strings.Contains(name, "."):
		return "single-label name (resolved on the local network)"
	}
	for _, s := range localSuffixes {
		if strings.HasSuffix(name, s) {
			return "name in the local-only domain " + s[1:]
		}
	}
	return ""
}

// numeric reports a label of decimal digits, or 0x and hex digits.
func numeric(label string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		label, digits = rest, "0123456789abcdef"
		if label == "" {
			return true
		}
	}
	return label != "" && strings.Trim(label, digits) == ""
}
