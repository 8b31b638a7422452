package netguardtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/aiprod/aiprod/pkg/netguard"
)

// PublicAddr is a public address (the guard lets it through) for scripts.
const PublicAddr = "93.184.215.14"

// Network is a scripted resolver and dialer. Safe for concurrent use.
type Network struct {
	target string

	mu      sync.Mutex
	answers map[string][][]netip.Addr
	lookups map[string]int
	dialed  []string
}

// New returns a Network whose dials all connect to target ("host:port" of
// a local server; "" makes every dial fail).
func New(target string) *Network {
	return &Network{target: target, answers: map[string][][]netip.Addr{}, lookups: map[string]int{}}
}

// Answer adds a lookup answer for host: the first lookup of host gets the
// first answer, and so on; once they run out the last one is repeated. It
// returns n, to chain.
func (n *Network) Answer(host string, addrs ...string) *Network {
	a := make([]netip.Addr, len(addrs))
	for i, s := range addrs {
		a[i] = netip.MustParseAddr(s)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answers[host] = append(n.answers[host], a)
	return n
}

// Policy is a netguard.Policy (private networks refused) over n.
func (n *Network) Policy() netguard.Policy { return netguard.Policy{Resolver: n, Dial: n.Dial} }

// LookupNetIP implements netguard.Resolver; a host without answers is not
// found.
func (n *Network) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.answers[host]
	if len(a) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(n.lookups[host], len(a)-1)
	n.lookups[host]++
	return a[i], nil
}

// Dial is a netguard.DialFunc: it records address and connects to the
// target instead.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, address)
	n.mu.Unlock()
	if n.target == "" {
		return nil, errors.New("netguardtest: nothing listens")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, n.target)
}

// Dialed returns the addresses dialled so far, in order.
func (n *Network) Dialed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}

// Lookups returns how many times host was looked up.
func (n *Network) Lookups(host string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lookups[host]
}
