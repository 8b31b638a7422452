package pack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var b []byte
	b = AppendString(b, "")
	b = AppendString(b, "héllo")
	b = AppendInt(b, -42)
	b = AppendLen(b, 0, true)
	b = AppendLen(b, 0, false)
	b = AppendLen(b, 300, false)
	b = AppendTime(b, time.Time{})
	b = AppendTime(b, now)

	s, b := String(b)
	require.Empty(t, s)
	view, _ := StringView(b)
	require.Equal(t, "héllo", view)
	s, b = String(b)
	require.Equal(t, "héllo", s)
	n, b := Int(b)
	require.EqualValues(t, -42, n)
	l, isNil, b := Len(b)
	require.True(t, isNil)
	require.Zero(t, l)
	l, isNil, b = Len(b)
	require.False(t, isNil)
	require.Zero(t, l)
	l, _, b = Len(b)
	require.Equal(t, 300, l)
	tm, b := Time(b)
	require.True(t, tm.IsZero())
	tm, b = Time(b)
	require.True(t, now.Equal(tm))
	require.Empty(t, b)
}
