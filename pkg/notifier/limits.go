package notifier

import "sync"

// limits bounds the webhook requests in flight: at most global at once,
// and at most perHost to one destination host. Acquisition never waits:
// a message whose destination is full is put back (see Notifier.busy), so
// a slow or dead receiver holds at most perHost requests and no message
// slot of anyone else. Safe for concurrent use.
type limits struct {
	mu      sync.Mutex
	global  int
	perHost int
	total   int
	hosts   map[string]int
}

func newLimits(global, perHost int) *limits {
	return &limits{global: global, perHost: perHost, hosts: map[string]int{}}
}

// tryAcquire takes a slot for host; ok is false when the host or the whole
// notifier is at its limit. release gives the slot back (once).
func (l *limits) tryAcquire(host string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.global || l.hosts[host] >= l.perHost {
		return nil, false
	}
	l.total++
	l.hosts[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.hosts[host]--; l.hosts[host] == 0 {
				delete(l.hosts, host)
			}
		})
	}, true
}
