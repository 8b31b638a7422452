// Command router is AIPROD's router service (Cloud Run worker pool or
// service): it consumes aiprod-jobs, picks the cheapest healthy backend that
// can serve each job and publishes it to that backend's dispatch topic. It
// also runs the stuck-job sweeper (package sweeper) and the usage roller
// (budget.Roller, which also announces budget.forecast events and learns
// each backend's figures: package learn), and carries out the admin API's
// dead-letter replays
// (aiprod-dlq-replay, deadletter.Replayer).
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz,
// AIPROD_MAX_ATTEMPTS, ...), plus (see Config in config.go):
//
//	AIPROD_SWEEP_INTERVAL           time between sweeps for stuck jobs (default 1m; 0 disables the sweeper)
//	AIPROD_SWEEP_QUEUED_AFTER       re-drive a job queued this long without progress (default 2m)
//	AIPROD_SWEEP_DISPATCHED_AFTER   ... dispatched this long (default 5m)
//	AIPROD_SWEEP_RUNNING_AFTER      ... running this long (default 15m)
//	AIPROD_SWEEP_HARD_TIMEOUT       fail an unfinished job this old with timeout (default 3h)
//	AIPROD_SWEEP_MAX_REDRIVES       re-drives in a row without progress before failing (default 3)
//	AIPROD_USAGE_ROLLUP_INTERVAL    time between roll-ups of the ledger into daily usage (default 1m; 0 disables)
//	AIPROD_USAGE_ROLLUP_LAG         how far behind now the roll-ups stay (default 2m)
//	AIPROD_EXPLORE_PERCENT          % of jobs sent to a backend whose learned figures are stale (0 to 2, default 1)
//
// See package sweeper for what the sweeper does, budget.Roller for the
// usage roll-ups.
package main

import (
	"context"
	"os"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

// run builds the router, the dead-letter replayer and, unless disabled, the
// sweeper and the usage roller, and runs them with the health endpoint until ctx is done.
func run(ctx context.Context, cfg Config, d platform.Deps) error {
	rt, err := router.New(router.Config{Queue: d.Queue, Store: d.Store, Catalog: cfg.Catalog, Circuit: cfg.Circuit,
		Logger: d.Log, MaxAttempts: cfg.MaxAttempts, BudgetDefaults: cfg.BudgetDefaults, ExploreShare: cfg.exploreShare()})
	if err != nil {
		return err
	}
	rp, err := deadletter.NewReplayer(deadletter.ReplayerConfig{Queue: d.Queue, Results: d.Store, Backends: cfg.Catalog.Names(),
		Logger: d.Log})
	if err != nil {
		return err
	}
	parts := []func(context.Context) error{rt.Run, rp.Run, cfg.ServeHealth}
	if cfg.SweepInterval > 0 {
		sw, err := sweeper.New(sweeper.Config{Policy: cfg.Sweep, Store: d.Store, Queue: d.Queue, Catalog: cfg.Catalog,
			Interval: cfg.SweepInterval, Logger: d.Log, BudgetDefaults: cfg.BudgetDefaults})
		if err != nil {
			return err
		}
		parts = append(parts, sw.Run)
	}
	if cfg.RollupInterval > 0 {
		ro, err := budget.NewRoller(budget.RollerConfig{Store: d.Store, Interval: cfg.RollupInterval, Lag: cfg.RollupLag, Logger: d.Log,
			BudgetDefaults: cfg.BudgetDefaults, Events: d.Queue, LedgerEvents: d.Queue,
			Fold: (&learn.Folder{Events: d.Queue, Logger: d.Log}).FoldRound})
		if err != nil {
			return err
		}
		parts = append(parts, ro.Run)
	}
	return platform.RunAll(ctx, parts...)
}

func main() {
	os.Exit(platform.Main(platform.Service[Config]{Name: "router", FromEnv: FromEnv, Run: run}))
}
