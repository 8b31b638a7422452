package circuit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBreakerLifecycle(t *testing.T) {
	t.Parallel()
	cfg := Config{FailureThreshold: 3, Cooldown: 10 * time.Second, ProbeTimeout: time.Minute}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var b Breaker
	require.Equal(t, Closed, b.Current())
	require.Equal(t, Allow, b.Peek(t0, cfg))

	b = b.Failure(t0, "boom 1", cfg)
	b = b.Failure(t0, "boom 2", cfg)
	require.Equal(t, Closed, b.Current(), "two failures keep it closed")
	b = b.Failure(t0, "boom 3", cfg)
	require.Equal(t, Open, b.Current())
	require.Equal(t, 3, b.ConsecutiveFailures)
	require.Equal(t, "boom 3", b.LastError)

	require.Equal(t, Deny, b.Peek(t0.Add(9*time.Second), cfg), "cooling down")
	b, d := b.Acquire(t0.Add(10*time.Second), cfg)
	require.Equal(t, Probe, d)
	require.Equal(t, HalfOpen, b.Current())
	_, d = b.Acquire(t0.Add(11*time.Second), cfg)
	require.Equal(t, Deny, d, "exactly one probe while it is out")

	// The probe fails: open again, cool-down restarts.
	b = b.Failure(t0.Add(12*time.Second), "probe failed", cfg)
	require.Equal(t, Open, b.Current())
	require.Equal(t, Deny, b.Peek(t0.Add(13*time.Second), cfg))
	b, d = b.Acquire(t0.Add(22*time.Second), cfg)
	require.Equal(t, Probe, d)
	b = b.Success()
	require.Equal(t, Closed, b.Current())
	require.Zero(t, b.ConsecutiveFailures)
	require.Equal(t, Allow, b.Peek(t0.Add(23*time.Second), cfg))
}

func TestBreakerLostProbeIsRetaken(t *testing.T) {
	t.Parallel()
	cfg := Config{Cooldown: time.Second, ProbeTimeout: 5 * time.Second}
	t0 := time.Unix(1_700_000_000, 0)
	b := Breaker{State: Open, OpenedAt: t0, ConsecutiveFailures: 3}
	b, d := b.Acquire(t0.Add(time.Second), cfg)
	require.Equal(t, Probe, d)
	require.Equal(t, Deny, b.Peek(t0.Add(5*time.Second), cfg))
	require.Equal(t, Probe, b.Peek(t0.Add(6*time.Second), cfg), "a silent probe is given up after ProbeTimeout")
}

func TestSuccessResetsCount(t *testing.T) {
	t.Parallel()
	var b Breaker
	now := time.Now()
	b = b.Failure(now, "x", Config{})
	b = b.Failure(now, "x", Config{})
	b = b.Success()
	b = b.Failure(now, "x", Config{})
	require.Equal(t, Closed, b.Current(), "failures must be consecutive")
}

func TestSharedTextHidesJobIDs(t *testing.T) {
	t.Parallel()
	got := SharedText("backend_unavailable: submit job 0707FBE4-4443-4c1b-87c2-a3bfc6c5694a to alpha: 503")
	if got != "backend_unavailable: submit job <job> to alpha: 503" {
		t.Fatalf("got %q", got)
	}
}

func TestTransitionAnnouncesOpeningAndClosingOnce(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	cfg := Config{FailureThreshold: 2}
	var b Breaker
	one := b.Failure(now, "backend_unavailable: job 5f0c1d2e-0000-4000-8000-000000000001 got 503", cfg)
	_, ok := Transition("fal", b, one, now)
	require.False(t, ok, "a failure below the threshold is no event")

	open := one.Failure(now, "backend_unavailable: 503", cfg)
	ev, ok := Transition("fal", one, open, now)
	require.True(t, ok)
	require.Equal(t, Event{Type: "backend_circuit", Backend: "fal", State: Open, Previous: Closed,
		ConsecutiveFailures: 2, LastError: "backend_unavailable: 503", At: now}, ev)

	probing := open
	probing.State = HalfOpen
	_, ok = Transition("fal", open, probing, now)
	require.False(t, ok, "a probe starting is no event")
	reopened := probing.Failure(now, "503", cfg)
	_, ok = Transition("fal", probing, reopened, now)
	require.False(t, ok, "a failed probe re-opening is no event: a backend that stays down is announced once")

	closed := probing.Success()
	ev, ok = Transition("fal", probing, closed, now)
	require.True(t, ok)
	require.Equal(t, Closed, ev.State)
	require.Equal(t, HalfOpen, ev.Previous)
}
