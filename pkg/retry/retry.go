// Package retry runs an operation again after transient failures, waiting
// an exponentially growing, jittered delay between tries.
//
// It is the one layer that retries: ports (store, queue, backend adapters)
// classify their errors with errclass and never retry by themselves; their
// callers wrap the calls that are worth repeating in Do.
//
// # Policy
//
// A Policy says how often and how long: at most MaxAttempts calls, no new
// call once MaxElapsed has passed since the first, and between calls a delay
// drawn uniformly from [0, min(Max, Initial·Multiplier^(n-1))) ("full
// jitter", which spreads the retries of many clients that failed together).
// A Retry-After hint carried by the error (errclass.RetryAfter) replaces the
// drawn delay. Only errors that Retryable accepts are retried; by default
// that is errclass.IsRetryable (Retryable or unclassified).
//
// Sleep, Now and Rand are injectable so that tests run without waiting.
//
// # Why not a library
//
// github.com/cenkalti/backoff/v5 (already in the module graph) was the
// candidate. Its Retry takes its timer and clock from unexported options
// (time.Now and time.Timer are fixed), so tests of code that retries would
// have to wait in real time, and its jitter cannot be made deterministic.
// The algorithm itself is a few lines; owning it keeps errclass
// classification and Retry-After handling in one place.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Defaults of Policy.
const (
	MaxAttemptsDefault = 4
	InitialDefault     = 100 * time.Millisecond
	MaxDefault         = 10 * time.Second
	MultiplierDefault  = 2.0
)

// Policy is a retry policy. The zero value is usable: WithDefaults fills it.
// A Policy is a value; it is safe to share between goroutines as long as
// its functions are.
type Policy struct {
	// MaxAttempts is how many times fn is called at most, the first call
	// included. 0: MaxAttemptsDefault; 1: no retry; negative: no limit
	// (then MaxElapsed or ctx must end it).
	MaxAttempts int
	// MaxElapsed stops retrying when the next call would start later than
	// this after the first one. 0: no limit.
	MaxElapsed time.Duration
	// Initial is the upper bound of the first delay. 0: InitialDefault.
	Initial time.Duration
	// Max caps the upper bound of any drawn delay (not a Retry-After hint).
	// 0: MaxDefault.
	Max time.Duration
	// Multiplier is the growth of the bound per retry. ≤ 1: MultiplierDefault.
	Multiplier float64
	// Retryable decides which errors are retried. nil: errclass.IsRetryable.
	Retryable func(error) bool
	// OnRetry, when set, is called before each wait with the number of the
	// call that failed (1-based), its error and the wait; for logging.
	OnRetry func(attempt int, err error, wait time.Duration)

	// Sleep waits d or until ctx is done (then it returns ctx's error).
	// nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of MaxElapsed. nil: time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter. nil: math/rand/v2.
	Rand func() float64
}

// WithDefaults fills zero fields.
func (p Policy) WithDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = MaxAttemptsDefault
	}
	if p.Initial <= 0 {
		p.Initial = InitialDefault
	}
	if p.Max <= 0 {
		p.Max = MaxDefault
	}
	if p.Multiplier <= 1 {
		p.Multiplier = MultiplierDefault
	}
	if p.Retryable == nil {
		p.Retryable = errclass.IsRetryable
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Or returns p when any of its timing fields (MaxAttempts, MaxElapsed,
// Initial, Max) is set, else def with p's functions (Retryable, OnRetry,
// Sleep, Now, Rand): a zero Policy field in a Config means "the Config's
// default policy", while tests can still inject clocks into it.
func (p Policy) Or(def Policy) Policy {
	if p.MaxAttempts != 0 || p.MaxElapsed != 0 || p.Initial != 0 || p.Max != 0 {
		return p
	}
	def.Retryable, def.OnRetry, def.Sleep, def.Now, def.Rand = p.Retryable, p.OnRetry, p.Sleep, p.Now, p.Rand
	return def
}

// Bound is the upper bound of the delay after the retry-th failed call
// (1-based): min(Max, Initial·Multiplier^(retry-1)). p must have defaults.
func (p Policy) Bound(retry int) time.Duration {
	if retry < 1 {
		retry = 1
	}
	b := float64(p.Initial) * math.Pow(p.Multiplier, float64(retry-1))
	if b >= float64(p.Max) || math.IsInf(b, 0) || math.IsNaN(b) {
		return p.Max
	}
	return time.Duration(b)
}

// Delay is the wait after the retry-th consecutive failed call (1-based)
// that failed with err: err's Retry-After hint when it has one, else a
// uniformly random duration in [0, Bound(retry)). Defaults are applied.
func (p Policy) Delay(retry int, err error) time.Duration {
	if d, ok := errclass.RetryAfter(err); ok {
		return d
	}
	p = p.WithDefaults()
	return time.Duration(p.Rand() * float64(p.Bound(retry)))
}

// Do calls fn until it returns nil, an error that p does not retry, p's
// attempts or elapsed time are used up, or ctx is done. It returns fn's last
// error unchanged, so errors.Is and errclass.Of work on it; when ctx is done
// before the first call it returns ctx's error. fn gets ctx; Do never calls
// fn after ctx is done.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	p = p.WithDefaults()
	start := p.Now()
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err == nil {
				return cerr
			}
			return err
		}
		err = fn(ctx)
		if err == nil || !p.Retryable(err) {
			return err
		}
		if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return err
		}
		wait := p.Delay(attempt, err)
		if p.MaxElapsed > 0 && p.Now().Add(wait).Sub(start) > p.MaxElapsed {
			return err
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		if p.Sleep(ctx, wait) != nil {
			return err
		}
	}
}

// Sleep waits d or until ctx is done, returning ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Jittered returns d moved at random by up to ±10%: the wait between two
// runs of a periodic task (a sweep, a roll-up), so that the copies in
// several processes drift apart.
func Jittered(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}
