package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Resolver resolves host names to addresses; *net.Resolver implements it.
// network is "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to address; the guard calls it with "ip:port" of an
// address it has checked, never with a name.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// EnvAllowPrivateNetworks is the variable from which the services read
// Policy.AllowPrivate ("true" or "false", default false).
const EnvAllowPrivateNetworks = "AIPROD_ALLOW_PRIVATE_NETWORKS"

// Defaults of the dialer Policy uses when Policy.Dial is nil (those of
// http.DefaultTransport).
const (
	DialTimeoutDefault = 30 * time.Second
	KeepAliveDefault   = 30 * time.Second
)

// Policy decides which addresses outbound connections may reach. The zero
// value refuses every non-public address and uses the system resolver and
// a net.Dialer. A Policy must not be changed while in use; its methods are
// safe for concurrent use.
type Policy struct {
	// AllowPrivate lets every address through, loopback and private ones
	// included (the dev stack; services read EnvAllowPrivateNetworks,
	// default false). Names are still resolved once and the address
	// dialled.
	AllowPrivate bool
	// Resolver resolves names; net.DefaultResolver when nil. Tests inject
	// one (e.g. a rebinding resolver).
	Resolver Resolver
	// Dial connects to a checked "ip:port"; when nil, a net.Dialer with
	// DialTimeoutDefault and KeepAliveDefault whose Control hook checks the
	// socket's address again (unless AllowPrivate). A Dial given here is
	// trusted to connect to the address it is given.
	Dial DialFunc
}

// DialContext connects to address ("host:port") over network ("tcp",
// "tcp4" or "tcp6"), as net.Dialer.DialContext does, except that it
// resolves host once with Resolver, refuses the addresses CheckAddr
// refuses (unless AllowPrivate) and connects to the first allowed address
// that answers, by address. When every address is refused the error is the
// first *RefusedError (errclass.Permanent); when every allowed address
// failed, the last dial error.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	family, ok := families[network]
	if !ok {
		return nil, fmt.Errorf("netguard: network %q refused: only tcp, tcp4 and tcp6", network)
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial: %w", err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial %s: port %q is not a number", host, portText)
	}
	addrs, name, err := p.resolve(ctx, family, host)
	if err != nil {
		return nil, err
	}
	var refused, dialErr error
	for _, a := range addrs {
		if r := Reason(a); r != "" && !p.AllowPrivate {
			if refused == nil {
				refused = &RefusedError{Host: name, Addr: a, Reason: r}
			}
			continue
		}
		conn, err := p.dialer()(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if dialErr != nil {
		return nil, dialErr
	}
	return nil, refused
}

// families maps a dial network to the resolver's network.
var families = map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}

// resolve returns host's addresses of family, host itself when it is an
// address (name is then ""), else the resolver's answer (name is host).
func (p *Policy) resolve(ctx context.Context, family, host string) (addrs []netip.Addr, name string, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, "", nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err = r.LookupNetIP(ctx, family, host)
	if err != nil {
		return nil, host, fmt.Errorf("netguard: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, host, fmt.Errorf("netguard: resolve %s: no addresses", host)
	}
	return addrs, host, nil
}

func (p *Policy) dialer() DialFunc {
	if p.Dial != nil {
		return p.Dial
	}
	d := &net.Dialer{Timeout: DialTimeoutDefault, KeepAlive: KeepAliveDefault}
	if !p.AllowPrivate {
		d.Control = control
	}
	return d.DialContext
}

// control checks the address a socket is about to connect to: the last
// word, whatever resolved it.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errors.New("netguard: socket address does not parse")
	}
	return CheckAddr(ap.Addr())
}
