package api

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/aiprod/aiprod/pkg/store"
)

// Bounds of the authentication caches.
const (
	// ValidKeyTTL is how long a usable key's record is kept in memory and
	// accepted without a store read: a key revoked on another instance
	// works here for at most this long after its revocation (DESIGN.md:
	// "the key gets 401 within 5 s on every instance"); revoked through
	// this instance, it stops at once. A key's expires_at is checked on
	// every request.
	ValidKeyTTL = 5 * time.Second
	// ValidKeysMax caps the usable keys remembered; past it the least
	// recently used is forgotten (and costs a store read again).
	ValidKeysMax = 10_000
	// RefusedKeyTTL is how long a refused key (unknown, revoked or expired)
	// is answered 401 from memory, without a store read. A key created on
	// another instance may thus get 401 for up to this long after its
	// creation; one created through this instance works at once.
	RefusedKeyTTL = 5 * time.Second
	// RefusedKeysMax caps the refused keys remembered; past it the least
	// recently used is forgotten (and costs a store read again).
	RefusedKeysMax = 10_000
)

// keyCache remembers, by hash, what authentication found out about an API
// key (its record, or that it was refused) for a TTL, so that a client
// repeating a key costs one store read per TTL instead of one per
// request. Usable and refused keys are kept in two caches, so that a flood
// of bad keys cannot evict the good ones. Safe for concurrent use.
type keyCache[V any] struct {
	ttl     time.Duration
	entries *lru.Cache[string, cachedKey[V]]
}

// cachedKey is what a keyCache holds for a hash, until when.
type cachedKey[V any] struct {
	v     V
	until time.Time
}

func newKeyCache[V any](ttl time.Duration, size int) *keyCache[V] {
	return &keyCache[V]{ttl: ttl, entries: newLRU[string, cachedKey[V]](size)}
}

// get returns what was remembered of hash less than the TTL before now.
func (c *keyCache[V]) get(hash string, now time.Time) (V, bool) {
	e, ok := c.entries.Get(hash)
	if ok && now.Before(e.until) {
		return e.v, true
	}
	if ok {
		c.entries.Remove(hash)
	}
	var zero V
	return zero, false
}

// add remembers v for hash from now for the TTL.
func (c *keyCache[V]) add(hash string, v V, now time.Time) {
	c.entries.Add(hash, cachedKey[V]{v: v, until: now.Add(c.ttl)})
}

// update replaces what is remembered of hash, if anything, keeping its
// expiry.
func (c *keyCache[V]) update(hash string, v V) {
	if e, ok := c.entries.Peek(hash); ok {
		c.entries.Add(hash, cachedKey[V]{v: v, until: e.until})
	}
}

// forget drops hash: a key created or revoked through this instance
// changes at once here.
func (c *keyCache[V]) forget(hash string) { c.entries.Remove(hash) }

// validKeys are the usable keys' records (ValidKeyTTL).
type validKeys = keyCache[store.APIKey]

// refusedKeys are the keys refused lately (RefusedKeyTTL).
type refusedKeys = keyCache[struct{}]
