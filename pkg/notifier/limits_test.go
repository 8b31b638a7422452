package notifier

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	l := newLimits(3, 2)
	a1, ok := l.tryAcquire("a")
	require.True(t, ok)
	a2, ok := l.tryAcquire("a")
	require.True(t, ok)
	_, ok = l.tryAcquire("a")
	require.False(t, ok, "per host")
	b1, ok := l.tryAcquire("b")
	require.True(t, ok)
	_, ok = l.tryAcquire("c")
	require.False(t, ok, "global")

	a1()
	a1() // releasing twice gives back one slot
	c1, ok := l.tryAcquire("c")
	require.True(t, ok)
	_, ok = l.tryAcquire("a")
	require.False(t, ok, "global again: a2, b1, c1")
	for _, r := range []func(){a2, b1, c1} {
		r()
	}
	require.Zero(t, l.total)
	require.Empty(t, l.hosts)
}
