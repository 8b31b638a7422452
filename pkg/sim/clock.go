package sim

import (
	"context"
	"slices"
	"sync"
	"time"
)

// ManualClock is a clock that moves only when told to: give its Now to
// Config.Now to step a simulated generation through its states without
// waiting, and its After to a loop that must wait on the same clock. Safe
// for concurrent use.
type ManualClock struct {
	mu      sync.Mutex
	t       time.Time
	timers  []manualTimer
	changed chan struct{} // closed and replaced by Advance; nil until waited on
}

type manualTimer struct {
	at time.Time
	c  chan time.Time
}

// NewManualClock returns a clock that reads t until advanced.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d, fires the After channels now due
// and returns how many fired.
func (c *ManualClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	fired := 0
	c.timers = slices.DeleteFunc(c.timers, func(tm manualTimer) bool {
		if tm.at.After(c.t) {
			return false
		}
		tm.c <- c.t // buffered: never blocks
		fired++
		return true
	})
	return fired
}

// After returns a channel that receives the clock's time once Advance has
// moved it d or more past now: time.After on this clock.
func (c *ManualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := manualTimer{at: c.t.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, tm)
	return tm.c
}

// WaitUntil returns nil once the clock reads t or later, or ctx's error
// when ctx ends first.
func (c *ManualClock) WaitUntil(ctx context.Context, t time.Time) error {
	for {
		c.mu.Lock()
		now := c.t
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		if !now.Before(t) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
