package notifier

import (
	"context"
	"sync"
	"time"
)

// limits bounds the webhook requests in flight: at most global at once,
// and at most perHost to one destination host. A request that finds its
// limit reached may wait for a slot, but only a little (the wait given to
// acquire) and only while few others wait for the same host (perHost
// waiters per host, global waiters in all): past that it is refused at
// once and its message put back (see Notifier.deliver), so a slow or dead
// receiver holds at most perHost requests and 2·perHost message slots,
// never the slots of other receivers' events. Safe for concurrent use.
type limits struct {
	global, perHost int

	mu      sync.Mutex
	total   int            // requests in flight
	hosts   map[string]int // host → requests in flight
	waiting map[string]int // host → waiters
	waiters int
	changed chan struct{} // closed (and replaced) whenever a slot frees
}

func newLimits(global, perHost int) *limits {
	return &limits{global: global, perHost: perHost, hosts: map[string]int{}, waiting: map[string]int{},
		changed: make(chan struct{})}
}

// acquire takes a slot for host, waiting up to wait for one; ok is false
// when none came, when too many already wait, or when ctx ends. release
// gives the slot back (once).
func (l *limits) acquire(ctx context.Context, host string, wait time.Duration) (release func(), ok bool) {
	l.mu.Lock()
	if l.take(host) {
		l.mu.Unlock()
		return l.releaser(host), true
	}
	if wait <= 0 || l.waiting[host] >= l.perHost || l.waiters >= l.global {
		l.mu.Unlock()
		return nil, false
	}
	l.waiting[host]++
	l.waiters++
	defer func() {
		if l.waiting[host]--; l.waiting[host] == 0 {
			delete(l.waiting, host)
		}
		l.waiters--
		l.mu.Unlock()
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			l.mu.Lock()
			return nil, false
		case <-ctx.Done():
			l.mu.Lock()
			return nil, false
		}
		l.mu.Lock()
		if l.take(host) {
			return l.releaser(host), true
		}
	}
}

// take takes a slot for host if both limits allow; l.mu is held.
func (l *limits) take(host string) bool {
	if l.total >= l.global || l.hosts[host] >= l.perHost {
		return false
	}
	l.total++
	l.hosts[host]++
	return true
}

// releaser returns the function that gives host's slot back, once, and
// wakes the waiters.
func (l *limits) releaser(host string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.hosts[host]--; l.hosts[host] == 0 {
				delete(l.hosts, host)
			}
			close(l.changed)
			l.changed = make(chan struct{})
		})
	}
}
