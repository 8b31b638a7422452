package api

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Bounds of the negative authentication cache.
const (
	// RefusedKeyTTL is how long a refused key (unknown, revoked or expired)
	// is answered 401 from memory, without a store read. A key created on
	// another instance may thus get 401 for up to this long after its
	// creation; one created through this instance works at once.
	RefusedKeyTTL = 5 * time.Second
	// RefusedKeysMax caps the refused keys remembered; past it the least
	// recently used is forgotten (and costs a store read again).
	RefusedKeysMax = 10_000
)

// refusedKeys remembers, by hash, the API keys that failed authentication,
// for RefusedKeyTTL, so that a client repeating a bad key costs one store
// read per TTL instead of one per request. Only refusals are cached: a
// usable key is read from the store on every request, so revocation still
// holds from the next request on every instance. Safe for concurrent use.
type refusedKeys struct {
	ttl     time.Duration
	entries *lru.Cache[string, time.Time] // hash → until when it is refused
}

func newRefusedKeys(ttl time.Duration, size int) *refusedKeys {
	return &refusedKeys{ttl: ttl, entries: newLRU[string, time.Time](size)}
}

// has reports whether hash was refused less than the TTL before now.
func (c *refusedKeys) has(hash string, now time.Time) bool {
	until, ok := c.entries.Get(hash)
	if ok && now.Before(until) {
		return true
	}
	if ok {
		c.entries.Remove(hash)
	}
	return false
}

// add remembers that hash was refused at now.
func (c *refusedKeys) add(hash string, now time.Time) { c.entries.Add(hash, now.Add(c.ttl)) }

// forget drops hash: a key created now is usable at once on this instance.
func (c *refusedKeys) forget(hash string) { c.entries.Remove(hash) }
