package notifier_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/notifier"
)

// TestScheduleOver24Hours walks the whole default schedule on a fake clock:
// every attempt fails at once, and the attempts fall at 0, 5 s, 5 min 5 s,
// 35 min 5 s, 2 h 35 min 5 s, 7 h 35 min 5 s, 17 h 35 min 5 s and 24 h
// after the first; the eighth is the last.
func TestScheduleOver24Hours(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	want := []time.Duration{
		0,
		5 * time.Second,
		5*time.Minute + 5*time.Second,
		35*time.Minute + 5*time.Second,
		2*time.Hour + 35*time.Minute + 5*time.Second,
		7*time.Hour + 35*time.Minute + 5*time.Second,
		17*time.Hour + 35*time.Minute + 5*time.Second,
		24 * time.Hour,
	}
	now := first
	var got []time.Duration
	for n := 1; ; n++ {
		require.Less(t, n, 100, "the schedule ends")
		got = append(got, now.Sub(first))
		next, ok := notifier.ScheduleDefault.Next(first, n, now)
		if !ok {
			break
		}
		require.True(t, next.After(now), "attempt %d: the next one is later", n)
		now = next
	}
	require.Equal(t, want, got)
}

// TestScheduleFromTheFailureTime: delays run from when the attempt ended
// (a slow receiver, a late redelivery), and a failure at or after the
// window's end stops the retries.
func TestScheduleFromTheFailureTime(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := notifier.ScheduleDefault
	next, ok := s.Next(first, 1, first.Add(10*time.Second))
	require.True(t, ok)
	require.Equal(t, first.Add(15*time.Second), next)

	next, ok = s.Next(first, 12, first.Add(20*time.Hour))
	require.True(t, ok)
	require.Equal(t, first.Add(24*time.Hour), next, "past the table the last delay repeats, cut at the window's end")

	_, ok = s.Next(first, 8, first.Add(24*time.Hour))
	require.False(t, ok)
	_, ok = s.Next(first, 3, first.Add(30*time.Hour))
	require.False(t, ok, "a notifier that was down past the window makes no more attempts")
	_, ok = notifier.Schedule{Window: time.Hour}.Next(first, 1, first)
	require.False(t, ok, "no delays: no retry")
}
