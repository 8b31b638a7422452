// Package netguard keeps AIPROD's outbound HTTP requests to URLs it did not
// choose (provider video URLs the worker copies, webhook URLs upstream
// systems give) away from the networks the services live in: loopback,
// private and link-local ranges (the cloud metadata server at
// 169.254.169.254), unique-local IPv6, and the IPv4-mapped and embedding
// IPv6 forms of those. A request that could reach them is a server-side
// request forgery: the worker's identity fetching its own metadata token, or
// an internal service, and storing the answer as a video.
//
// # Where the check happens
//
// The check is made when connecting, on the address connected to, not on the
// URL: names are resolved once by Policy.Resolver, every address is checked,
// and the connection goes to exactly an address that passed (never a second
// lookup, which a rebinding DNS server would answer differently). The
// default dialer checks the socket's address once more in net.Dialer.Control.
// Every redirect hop is a new request through the same dialer, so a 302 to
// a private address fails as well; redirects stop after MaxRedirects and go
// only to http and https. Policy.Transport never uses a proxy from the
// environment (a proxy would make the connection, unchecked).
//
// CheckURL is the early check for a URL a user supplies (a webhook_url at
// the API, to answer 400 naming the field): scheme, host, literal addresses,
// and names that only resolve locally (localhost, *.internal, single-label
// names). It resolves nothing, so it does not replace the dial-time check.
//
// # What is refused
//
// IPv4: 0.0.0.0/8 (unspecified), 127/8 (loopback), 10/8, 172.16/12,
// 192.168/16 (private), 169.254/16 (link-local, metadata), 100.64/10
// (carrier-grade NAT: cloud providers and VPNs use it for internal
// networks), 192.0.0/24, the documentation and benchmarking ranges,
// 224/4 (multicast), 240/4 and 255.255.255.255 (reserved, broadcast).
// IPv6: everything outside global unicast 2000::/3 (::, ::1, fe80::/10,
// fc00::/7, ff00::/8, ::/96 IPv4-compatible, 64:ff9b:1::/48 local NAT64,
// 100::/64 ...), plus 2001::/32 (Teredo) and 2001:db8::/32
// (documentation). IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d)
// and 6to4 (2002:aabb:ccdd::) addresses are judged by the IPv4 address they
// carry. Policy.AllowPrivate lets every address through: the dev stack,
// whose simulated backends and test receivers listen on loopback.
//
// # Errors
//
// A refusal is a *RefusedError, classified errclass.Permanent ("netguard:
// refusing to connect to 127.0.0.1: loopback address"): asking again will
// not help. Errors name a host or address, never a URL's path, query or
// userinfo (signed URLs carry credentials there); Redact gives the part of a
// URL that errors may show. Note that net/http wraps errors in a *url.Error
// that quotes the request's URL, query included: callers replace its URL
// with Redact's before showing the error.
package netguard
