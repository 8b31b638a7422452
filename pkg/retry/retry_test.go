package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/retry"
)

// fakeTime is an injected clock whose Sleep advances it and records waits.
type fakeTime struct {
	now   time.Time
	waits []time.Duration
}

func (f *fakeTime) policy(p retry.Policy) retry.Policy {
	p.Now = func() time.Time { return f.now }
	p.Sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.waits = append(f.waits, d)
		f.now = f.now.Add(d)
		return nil
	}
	p.Rand = func() float64 { return 0.5 }
	return p
}

func setup() *fakeTime { return &fakeTime{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

// failing returns an fn that fails with errs in turn, then succeeds, and
// counts its calls.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

var transient = errclass.New(errclass.Retryable, "503")

func TestRetriesTransientThenSucceeds(t *testing.T) {
	t.Parallel()
	ft := setup()
	calls := 0
	err := retry.Do(context.Background(), ft.policy(retry.Policy{Initial: time.Second, Max: time.Minute}),
		failing(&calls, transient, fmt.Errorf("wrapped: %w", transient), errors.New("unclassified")))
	require.NoError(t, err)
	require.Equal(t, 4, calls)
	// Full jitter with Rand = 0.5: half of 1 s, 2 s, 4 s.
	require.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}, ft.waits)
}

func TestDoesNotRetryOtherClasses(t *testing.T) {
	t.Parallel()
	for _, class := range []error{errclass.Permanent, errclass.ContentSafety, errclass.NotFound, errclass.Conflict, errclass.Budget} {
		t.Run(class.Error(), func(t *testing.T) {
			t.Parallel()
			ft := setup()
			calls := 0
			cause := errclass.New(class, "no")
			err := retry.Do(context.Background(), ft.policy(retry.Policy{}), failing(&calls, cause))
			require.Same(t, cause, err, "the error comes back unchanged")
			require.Equal(t, 1, calls)
			require.Empty(t, ft.waits)
		})
	}
}

func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	ft := setup()
	calls := 0
	last := errclass.New(errclass.Retryable, "third")
	err := retry.Do(context.Background(), ft.policy(retry.Policy{MaxAttempts: 3}), failing(&calls, transient, transient, last, transient))
	require.Same(t, last, err)
	require.Equal(t, 3, calls)
	require.Len(t, ft.waits, 2)

	calls = 0
	err = retry.Do(context.Background(), ft.policy(retry.Policy{MaxAttempts: 1}), failing(&calls, transient))
	require.ErrorIs(t, err, errclass.Retryable)
	require.Equal(t, 1, calls, "MaxAttempts 1 means no retry")
}

func TestMaxElapsed(t *testing.T) {
	t.Parallel()
	ft := setup()
	calls := 0
	// Bounds 1, 2, 4, 8 s → waits 0.5, 1, 2, 4 s; the fourth would end at
	// 7.5 s > 5 s, so the fourth call is the last.
	errs := []error{transient, transient, transient, transient, transient, transient}
	err := retry.Do(context.Background(), ft.policy(retry.Policy{MaxAttempts: -1, Initial: time.Second, MaxElapsed: 5 * time.Second}),
		failing(&calls, errs...))
	require.ErrorIs(t, err, errclass.Retryable)
	require.Equal(t, 4, calls)
	require.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}, ft.waits)
}

func TestRetryAfterReplacesTheDelay(t *testing.T) {
	t.Parallel()
	ft := setup()
	calls := 0
	limited := errclass.WithRetryAfter(7*time.Second, "429 too many requests")
	err := retry.Do(context.Background(), ft.policy(retry.Policy{Initial: time.Millisecond, Max: time.Second}),
		failing(&calls, fmt.Errorf("submit: %w", limited)))
	require.NoError(t, err)
	require.Equal(t, []time.Duration{7 * time.Second}, ft.waits, "the hint is honoured even above Max")

	// A hint that would overrun MaxElapsed ends the retries at once.
	ft = setup()
	calls = 0
	err = retry.Do(context.Background(), ft.policy(retry.Policy{MaxElapsed: 5 * time.Second}), failing(&calls, limited))
	require.Same(t, limited, err)
	require.Equal(t, 1, calls)
	require.Empty(t, ft.waits)
}

func TestBoundGrowsAndCaps(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3}.WithDefaults()
	var got []time.Duration
	for n := range 5 {
		got = append(got, p.Bound(n+1))
	}
	require.Equal(t, []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second, time.Second}, got)
	require.Equal(t, time.Second, p.Bound(10_000), "no overflow")
}

func TestDelayIsJittered(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Initial: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := p.Delay(3, transient)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.Less(t, d, 4*time.Second)
		seen[d] = true
	}
	require.Greater(t, len(seen), 50, "delays are spread, not fixed")
}

func TestCustomRetryable(t *testing.T) {
	t.Parallel()
	ft := setup()
	calls := 0
	busy := errclass.New(errclass.Conflict, "slot busy")
	p := ft.policy(retry.Policy{Retryable: func(err error) bool { return errors.Is(err, errclass.Conflict) }})
	require.NoError(t, retry.Do(context.Background(), p, failing(&calls, busy, busy)))
	require.Equal(t, 3, calls)
}

func TestContextEndsRetries(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := retry.Do(ctx, retry.Policy{}, failing(&calls))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 0, calls, "fn is never called after ctx is done")

	// Canceled during a wait: the last error of fn comes back, no more calls.
	ctx, cancel = context.WithCancel(context.Background())
	calls = 0
	p := retry.Policy{MaxAttempts: -1, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return retry.Sleep(ctx, time.Hour)
	}}
	err = retry.Do(ctx, p, failing(&calls, transient, transient, transient))
	require.Same(t, transient, err)
	require.Equal(t, 1, calls)
}

func TestOnRetry(t *testing.T) {
	t.Parallel()
	ft := setup()
	var seen []int
	p := ft.policy(retry.Policy{OnRetry: func(attempt int, err error, wait time.Duration) {
		require.ErrorIs(t, err, errclass.Retryable)
		seen = append(seen, attempt)
	}})
	calls := 0
	require.NoError(t, retry.Do(context.Background(), p, failing(&calls, transient, transient)))
	require.Equal(t, []int{1, 2}, seen)
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, retry.Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, retry.Sleep(ctx, time.Hour), context.Canceled)
	require.ErrorIs(t, retry.Sleep(ctx, 0), context.Canceled)
}

// Jittered stays within ±10% of its duration, and does vary.
func TestJittered(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for range 200 {
		d := retry.Jittered(time.Minute)
		require.GreaterOrEqual(t, d, 54*time.Second)
		require.LessOrEqual(t, d, 66*time.Second)
		seen[d] = true
	}
	require.Greater(t, len(seen), 1, "jittered")
}
