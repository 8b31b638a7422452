package notifier

import "time"

// Schedule is when a failed webhook attempt is tried again: Delays[n-1]
// after attempt n failed (the last delay repeats), for Window after the
// first attempt. An attempt that would fall after the window is moved to
// its end, so the last attempt is made at first + Window; an attempt that
// fails at or after the end is the last.
type Schedule struct {
	Delays []time.Duration
	Window time.Duration
}

// ScheduleDefault is Standard Webhooks' (Svix's) schedule: attempts at 0,
// 5 s, 5 min, 30 min, 2 h, 5 h and 10 h after the previous failure, then
// one at 24 h; eight attempts in all.
var ScheduleDefault = Schedule{
	Delays: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour},
	Window: 24 * time.Hour,
}

// Next returns when the attempt after attempt n (1-based) is due, given
// that the first attempt was at first and attempt n failed at failedAt;
// ok is false when no attempt follows.
func (s Schedule) Next(first time.Time, n int, failedAt time.Time) (next time.Time, ok bool) {
	end := first.Add(s.Window)
	if len(s.Delays) == 0 || !failedAt.Before(end) {
		return time.Time{}, false
	}
	next = failedAt.Add(s.Delays[min(max(n, 1), len(s.Delays))-1])
	if next.After(end) {
		next = end
	}
	return next, true
}
