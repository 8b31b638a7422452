package notifier

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimits(3, 2)
	a1, ok := l.acquire(ctx, "a", 0)
	require.True(t, ok)
	a2, ok := l.acquire(ctx, "a", 0)
	require.True(t, ok)
	_, ok = l.acquire(ctx, "a", 0)
	require.False(t, ok, "per host")
	b1, ok := l.acquire(ctx, "b", 0)
	require.True(t, ok)
	_, ok = l.acquire(ctx, "c", 0)
	require.False(t, ok, "global")

	a1()
	a1() // releasing twice gives back one slot
	c1, ok := l.acquire(ctx, "c", 0)
	require.True(t, ok)
	_, ok = l.acquire(ctx, "a", 0)
	require.False(t, ok, "global again: a2, b1, c1")
	for _, r := range []func(){a2, b1, c1} {
		r()
	}
	require.Zero(t, l.total)
	require.Empty(t, l.hosts)
}

// TestLimitsWait: a full host's slot goes to a waiter when it frees; a
// waiter gives up after its wait; no more than perHost wait for one host.
func TestLimitsWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimits(10, 1)
	held, ok := l.acquire(ctx, "a", 0)
	require.True(t, ok)

	_, ok = l.acquire(ctx, "a", time.Millisecond)
	require.False(t, ok, "the wait ran out")

	got := make(chan func())
	go func() {
		r, ok := l.acquire(ctx, "a", time.Minute)
		if ok {
			got <- r
		}
		close(got)
	}()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.waiting["a"] == 1 }, 5*time.Second, time.Millisecond)
	_, ok = l.acquire(ctx, "a", time.Minute)
	require.False(t, ok, "perHost (1) already waits: refused at once")
	held()
	r := <-got
	require.NotNil(t, r, "the waiter got the freed slot")
	r()

	cctx, cancel := context.WithCancel(ctx)
	held, _ = l.acquire(ctx, "a", 0)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, ok := l.acquire(cctx, "a", time.Minute)
		require.False(t, ok)
	})
	cancel()
	wg.Wait()
	held()
	require.Zero(t, l.waiters)
	require.Empty(t, l.waiting)
}
