package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/sim"
)

// TestManualClockTimers: After fires once Advance reaches it, and
// WaitUntil returns once the clock reads the time (or ctx ends).
func TestManualClockTimers(t *testing.T) {
	t.Parallel()
	clk := sim.NewManualClock(t0)
	minute := clk.After(time.Minute)
	hour := clk.After(time.Hour)
	require.Equal(t, 0, clk.Advance(59*time.Second))
	require.Equal(t, 1, clk.Advance(time.Second))
	require.Equal(t, t0.Add(time.Minute), <-minute)
	select {
	case <-hour:
		t.Fatal("fired early")
	default:
	}

	waited := make(chan error, 1)
	go func() { waited <- clk.WaitUntil(context.Background(), t0.Add(2*time.Minute)) }()
	clk.Advance(30 * time.Second)
	select {
	case <-waited:
		t.Fatal("returned early")
	default:
	}
	require.Equal(t, 0, clk.Advance(30*time.Second))
	require.NoError(t, <-waited)
	require.NoError(t, clk.WaitUntil(context.Background(), t0), "already past")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, clk.WaitUntil(ctx, t0.Add(24*time.Hour)), context.Canceled)
}
