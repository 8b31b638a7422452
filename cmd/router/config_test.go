package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

// TestFromEnv covers the router's own variables, and AIPROD_MAX_ATTEMPTS
// which it shares with the worker; platform's TestFromEnvSharedVariables
// covers the others.
func TestFromEnv(t *testing.T) {
	t.Parallel()
	vars := []platformtest.Var[Config]{
		platformtest.Variable("AIPROD_SWEEP_INTERVAL", func(c Config) any { return c.SweepInterval },
			platformtest.Unset(sweeper.IntervalDefault),
			platformtest.Set("5s", 5*time.Second),
			platformtest.Set("0", time.Duration(0)),
			platformtest.Bad("often", `AIPROD_SWEEP_INTERVAL: "often" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("-1m", `AIPROD_SWEEP_INTERVAL: "-1m" must not be negative`)),
		platformtest.Variable("AIPROD_USAGE_ROLLUP_INTERVAL", func(c Config) any { return c.RollupInterval },
			platformtest.Unset(budget.RollIntervalDefault),
			platformtest.Set("30s", 30*time.Second),
			platformtest.Set("0", time.Duration(0)),
			platformtest.Bad("-1m", `AIPROD_USAGE_ROLLUP_INTERVAL: "-1m" must not be negative`)),
		platformtest.Variable("AIPROD_USAGE_ROLLUP_LAG", func(c Config) any { return c.RollupLag },
			platformtest.Unset(budget.RollLagDefault),
			platformtest.Set("5m", 5*time.Minute),
			platformtest.Bad("0s", `AIPROD_USAGE_ROLLUP_LAG: "0s" must be positive`)),
		platformtest.Variable("AIPROD_SWEEP_MAX_REDRIVES", func(c Config) any { return c.Sweep.MaxRedrives },
			platformtest.Unset(sweeper.MaxRedrivesDefault),
			platformtest.Set("5", 5),
			platformtest.Bad("many", `AIPROD_SWEEP_MAX_REDRIVES: "many" is not a whole number`),
			platformtest.Bad("0", `AIPROD_SWEEP_MAX_REDRIVES: "0" must be positive`)),
		platformtest.Variable("AIPROD_EXPLORE_PERCENT", func(c Config) any { return c.ExplorePercent },
			platformtest.Unset(ExplorePercentDefault),
			platformtest.Set("0", 0),
			platformtest.Set("2", 2),
			platformtest.Bad("3", `AIPROD_EXPLORE_PERCENT: "3" must be between 0 and 2`),
			platformtest.Bad("half", `AIPROD_EXPLORE_PERCENT: "half" is not a whole number`)),
		platformtest.Variable("AIPROD_MAX_ATTEMPTS", func(c Config) any { return c.MaxAttempts },
			platformtest.Unset(router.MaxAttemptsDefault),
			platformtest.Set("4", 4),
			platformtest.Bad("-1", `AIPROD_MAX_ATTEMPTS: "-1" must be positive`)),
	}
	// The sweeper's horizons and hard timeout: positive durations.
	for _, h := range []struct {
		name  string
		def   time.Duration
		field func(Config) any
	}{
		{"AIPROD_SWEEP_QUEUED_AFTER", sweeper.QueuedAfterDefault, func(c Config) any { return c.Sweep.QueuedAfter }},
		{"AIPROD_SWEEP_DISPATCHED_AFTER", sweeper.DispatchedAfterDefault, func(c Config) any { return c.Sweep.DispatchedAfter }},
		{"AIPROD_SWEEP_RUNNING_AFTER", sweeper.RunningAfterDefault, func(c Config) any { return c.Sweep.RunningAfter }},
		{"AIPROD_SWEEP_HARD_TIMEOUT", sweeper.HardTimeoutDefault, func(c Config) any { return c.Sweep.HardTimeout }},
	} {
		vars = append(vars, platformtest.Variable(h.name, h.field,
			platformtest.Unset(h.def),
			platformtest.Set("45s", 45*time.Second),
			platformtest.Set("6h", 6*time.Hour),
			platformtest.Bad("30", h.name+`: "30" is not a duration (e.g. 90s, 2m)`),
			platformtest.Bad("0s", h.name+`: "0s" must be positive`),
			platformtest.Bad("-5m", h.name+`: "-5m" must be positive`)))
	}
	platformtest.Check(t, FromEnv, vars...)
}

// TestFromEnvDefaultsAreTheLibraries: unset, every variable is what the
// packages would choose themselves.
func TestFromEnvDefaultsAreTheLibraries(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(platformtest.Getenv(platformtest.Base()))
	require.NoError(t, err)
	require.Equal(t, sweeper.Policy{}.WithDefaults(), c.Sweep)
	require.Equal(t, router.MaxAttemptsDefault, platform.MaxAttemptsDefault)
	require.Equal(t, router.Config{}.WithDefaults().Circuit, c.Circuit)
}

func TestExploreShare(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0.01, Config{ExplorePercent: 1}.exploreShare())
	require.Negative(t, Config{ExplorePercent: 0}.exploreShare(), "0 turns exploration off (router.Config's 0 is its default)")
}
