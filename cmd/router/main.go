// Command router is AIPROD's router service (Cloud Run worker pool or
// service): it consumes aiprod-jobs, picks the cheapest healthy backend that
// can serve each job and publishes it to that backend's dispatch topic. It
// also runs the stuck-job sweeper (package sweeper).
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz, ...),
// plus:
//
//	AIPROD_MAX_ATTEMPTS             attempts per job (default 3)
//	AIPROD_SWEEP_INTERVAL           time between sweeps for stuck jobs (default 1m; 0 disables the sweeper)
//	AIPROD_SWEEP_QUEUED_AFTER       re-drive a job queued this long without progress (default 2m)
//	AIPROD_SWEEP_DISPATCHED_AFTER   ... dispatched this long (default 5m)
//	AIPROD_SWEEP_RUNNING_AFTER      ... running this long (default 15m)
//	AIPROD_SWEEP_HARD_TIMEOUT       fail an unfinished job this old with timeout (default 3h)
//	AIPROD_SWEEP_MAX_REDRIVES       re-drives in a row without progress before failing (default 3)
//
// See package sweeper for what the sweeper does.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/router"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

func main() { os.Exit(platform.Main("router", run)) }

func run(ctx context.Context, env platform.Env, log *slog.Logger) error {
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	maxAttempts := 0
	if v := env.Getenv("AIPROD_MAX_ATTEMPTS"); v != "" {
		if maxAttempts, err = strconv.Atoi(v); err != nil || maxAttempts < 1 {
			return fmt.Errorf("AIPROD_MAX_ATTEMPTS=%q: want a whole number ≥ 1", v)
		}
	}
	sweepEvery := sweeper.IntervalDefault
	if v := env.Getenv("AIPROD_SWEEP_INTERVAL"); v != "" {
		if sweepEvery, err = time.ParseDuration(v); err != nil || sweepEvery < 0 {
			return fmt.Errorf("AIPROD_SWEEP_INTERVAL=%q: want a duration such as 1m, or 0 to disable the sweeper", v)
		}
	}
	var policy sweeper.Policy
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{
		{"AIPROD_SWEEP_QUEUED_AFTER", &policy.QueuedAfter},
		{"AIPROD_SWEEP_DISPATCHED_AFTER", &policy.DispatchedAfter},
		{"AIPROD_SWEEP_RUNNING_AFTER", &policy.RunningAfter},
		{"AIPROD_SWEEP_HARD_TIMEOUT", &policy.HardTimeout},
	} {
		if *d.to, err = env.Duration(d.name, 0); err != nil {
			return err
		}
	}
	if v := env.Getenv("AIPROD_SWEEP_MAX_REDRIVES"); v != "" {
		if policy.MaxRedrives, err = strconv.Atoi(v); err != nil || policy.MaxRedrives < 1 {
			return fmt.Errorf("AIPROD_SWEEP_MAX_REDRIVES=%q: want a whole number ≥ 1", v)
		}
	}
	q, err := env.OpenQueue(ctx, cat)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := env.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rt, err := router.New(router.Config{Queue: q, Store: st, Catalog: cat, Circuit: env.Circuit, Logger: log, MaxAttempts: maxAttempts})
	if err != nil {
		return err
	}
	services := []func(context.Context) error{rt.Run, func(ctx context.Context) error {
		return platform.Serve(ctx, ":"+env.Port, platform.HealthHandler(), nil)
	}}
	if sweepEvery > 0 {
		sw, err := sweeper.New(sweeper.Config{Policy: policy, Store: st, Queue: q, Interval: sweepEvery, Logger: log})
		if err != nil {
			return err
		}
		services = append(services, sw.Run)
	}
	return platform.RunAll(ctx, services...)
}
