package main

import (
	"math"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/routing"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

// Config is the router's configuration: platform's shared variables, the
// sweeper's and the usage roller's.
type Config struct {
	platform.Config
	// SweepInterval is the time between sweeps for stuck jobs
	// (AIPROD_SWEEP_INTERVAL, default sweeper.IntervalDefault); 0 runs no
	// sweeper.
	SweepInterval time.Duration
	// Sweep is when a job counts as stuck and what is done about it:
	// AIPROD_SWEEP_QUEUED_AFTER, AIPROD_SWEEP_DISPATCHED_AFTER,
	// AIPROD_SWEEP_RUNNING_AFTER, AIPROD_SWEEP_HARD_TIMEOUT (positive
	// durations) and AIPROD_SWEEP_MAX_REDRIVES (at least 1), each defaulting
	// to the sweeper's default.
	Sweep sweeper.Policy
	// RollupInterval is the time between two roll-ups of the cost ledger
	// into daily usage (AIPROD_USAGE_ROLLUP_INTERVAL, default
	// budget.RollIntervalDefault); 0 runs no roller. One router with a
	// roller is enough; several share the work.
	RollupInterval time.Duration
	// RollupLag is how far behind now the roll-ups stay
	// (AIPROD_USAGE_ROLLUP_LAG, positive, default budget.RollLagDefault).
	RollupLag time.Duration
	// ExplorePercent is the percentage of jobs that may go to a backend
	// whose learned figures are stale (AIPROD_EXPLORE_PERCENT, 0 to 2,
	// default 1; 0: none). See package routing, "Exploration".
	ExplorePercent int
}

// ExplorePercentDefault is AIPROD_EXPLORE_PERCENT's default:
// routing.ExploreShareDefault.
const ExplorePercentDefault = 1

// exploreShare is ExplorePercent as router.Config.ExploreShare.
func (c Config) exploreShare() float64 {
	if c.ExplorePercent == 0 {
		return -1 // none
	}
	return float64(c.ExplorePercent) / 100
}

// FromEnv reads the router's configuration through getenv; the error names
// every bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	v := platform.NewVars(getenv)
	c := Config{
		Config:        platform.ReadConfig(v),
		SweepInterval: v.Duration("AIPROD_SWEEP_INTERVAL", sweeper.IntervalDefault, 0, platform.MaxDuration),
		Sweep: sweeper.Policy{
			QueuedAfter:     v.PositiveDuration("AIPROD_SWEEP_QUEUED_AFTER", sweeper.QueuedAfterDefault),
			DispatchedAfter: v.PositiveDuration("AIPROD_SWEEP_DISPATCHED_AFTER", sweeper.DispatchedAfterDefault),
			RunningAfter:    v.PositiveDuration("AIPROD_SWEEP_RUNNING_AFTER", sweeper.RunningAfterDefault),
			HardTimeout:     v.PositiveDuration("AIPROD_SWEEP_HARD_TIMEOUT", sweeper.HardTimeoutDefault),
			MaxRedrives:     v.Int("AIPROD_SWEEP_MAX_REDRIVES", sweeper.MaxRedrivesDefault, 1, math.MaxInt),
		},
		RollupInterval: v.Duration("AIPROD_USAGE_ROLLUP_INTERVAL", budget.RollIntervalDefault, 0, platform.MaxDuration),
		RollupLag:      v.PositiveDuration("AIPROD_USAGE_ROLLUP_LAG", budget.RollLagDefault),
		ExplorePercent: v.Int("AIPROD_EXPLORE_PERCENT", ExplorePercentDefault, 0, int(100*routing.MaxExploreShare)),
	}
	return c, v.Err()
}
