package api

import (
	"fmt"
	"math"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Defaults of the per-key rate limit (Config.RateLimit).
const (
	// RateLimitBucketsDefault caps how many keys' buckets are kept: the
	// least recently used one is dropped past it (Config.RateLimitBuckets).
	RateLimitBucketsDefault = 10_000
	// RateBurstFactor makes a key's burst, when Config.RateBurst is 0,
	// twice its rate: a client may send two seconds' worth at once.
	RateBurstFactor = 2
	// RateLimitMax bounds Config.RateLimit: a million requests a second
	// per key is no limit in practice.
	RateLimitMax = 1_000_000
)

// CodeRateLimited is the error code of a 429: the key sent more requests
// than its rate limit allows.
const CodeRateLimited = "rate_limited"

// keyLimiter is a token bucket per API key, keyed by the key's hash (never
// the key). Memory is bounded: an LRU keeps at most a fixed number of
// buckets and drops the least recently used one past it. A dropped bucket
// comes back full, which is what an idle bucket is after burst/rate
// seconds anyway; only a key that stays busy while more than that many
// other keys are busier could gain a burst from eviction. Safe for
// concurrent use.
type keyLimiter struct {
	limit   rate.Limit
	burst   int
	buckets *lru.Cache[string, *rate.Limiter]
}

// newKeyLimiter returns a limiter of perSecond requests a second per key
// with the given burst, keeping at most size buckets; nil when perSecond is
// 0 (no limit).
func newKeyLimiter(perSecond, burst, size int) *keyLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: newLRU[string, *rate.Limiter](size)}
}

// allow takes a token of hash's bucket at now. When the bucket is empty it
// takes nothing and returns how long until a token is there.
func (l *keyLimiter) allow(hash string, now time.Time) (time.Duration, bool) {
	b, ok := l.buckets.Get(hash)
	if !ok {
		fresh := rate.NewLimiter(l.limit, l.burst)
		if prev, found, _ := l.buckets.PeekOrAdd(hash, fresh); found {
			b = prev
		} else {
			b = fresh
		}
	}
	if b.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / float64(l.limit) * float64(time.Second)), false
}

// rateLimited is the 429 answer of a key over its limit; Retry-After is
// the wait for its next token in whole seconds, at least 1.
func rateLimited(wait time.Duration, perSecond int) error {
	return &httpError{status: http.StatusTooManyRequests, retryAfter: max(time.Second, wait), ErrorDetail: ErrorDetail{
		Code:    CodeRateLimited,
		Message: fmt.Sprintf("too many requests: this API key may send %d a second; retry after the Retry-After header's seconds", perSecond),
	}}
}

// retryAfterSeconds is d as a Retry-After value: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// newLRU returns an LRU cache of at most size entries. size must be
// positive (Config.Validate checks the configurable ones).
func newLRU[K comparable, V any](size int) *lru.Cache[K, V] {
	c, err := lru.New[K, V](size)
	if err != nil {
		panic(fmt.Sprintf("api: LRU cache of %d entries: %v", size, err))
	}
	return c
}
