package netguard_test

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/aiprod/aiprod/pkg/netguard"
)

// FuzzCheckURL: CheckURL never panics; what it accepts is an http(s) URL
// with a host that is not a refused address; AllowPrivate accepts at least
// as much; errors never show a password or query.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/v?sig=abc", "http://127.0.0.1:80/secret", "http://[::ffff:127.0.0.1]/",
		"http://[fe80::1%25eth0]/", "http://localhost./", "http://0x7f.1/", "http://2130706433/",
		"http://user:pass@10.0.0.1/?token=t0k3n", "ftp://x/", "http://[::1", "http://metadata.google.internal/",
		"HTTP://EXAMPLE.COM:8080", "http://[64:ff9b::7f00:1]/", "http://a..b/", "http://./", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := netguard.CheckURL(raw)
		if err == nil {
			if perr := (&netguard.Policy{AllowPrivate: true}).CheckURL(raw); perr != nil {
				t.Fatalf("AllowPrivate refused %q that the strict policy accepts: %v", raw, perr)
			}
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			if err == nil {
				t.Fatalf("accepted %q, which does not parse", raw)
			}
			return
		}
		host := u.Hostname()
		if err == nil {
			if u.Scheme != "http" && u.Scheme != "https" || host == "" {
				t.Fatalf("accepted %q: scheme %q host %q", raw, u.Scheme, host)
			}
			if a, aerr := netip.ParseAddr(host); aerr == nil && netguard.Reason(a) != "" {
				t.Fatalf("accepted %q: %s", raw, netguard.Reason(a))
			}
			return
		}
		pass, _ := u.User.Password()
		for _, secret := range []string{pass, u.RawQuery} {
			if len(secret) >= 4 && !strings.Contains(host, secret) && !strings.Contains(u.Scheme, secret) &&
				strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q shows %q of %q", err, secret, raw)
			}
		}
	})
}

// FuzzReason: an IPv4 address is judged the same whether given plainly,
// IPv4-mapped or in the NAT64 prefix; no IPv6 address outside 2000::/3
// passes except those two embeddings.
func FuzzReason(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "8.8.8.8", "::1", "fe80::1", "2606:4700::1111", "64:ff9b::808:808", "2002:7f00:1::"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	nat64 := netip.MustParsePrefix("64:ff9b::/96")
	global := netip.MustParsePrefix("2000::/3")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 16 {
			return
		}
		a := netip.AddrFrom16([16]byte(b))
		r := netguard.Reason(a)
		if a.Is4In6() || nat64.Contains(a) {
			var v4 [4]byte
			copy(v4[:], b[12:])
			plain := netguard.Reason(netip.AddrFrom4(v4))
			if (r == "") != (plain == "") {
				t.Fatalf("%s judged %q but %s judged %q", a, r, netip.AddrFrom4(v4), plain)
			}
			return
		}
		if !global.Contains(a) && r == "" {
			t.Fatalf("non-global %s allowed", a)
		}
	})
}
