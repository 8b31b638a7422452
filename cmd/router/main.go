// Command router is AIPROD's router service (Cloud Run worker pool or
// service): it consumes aiprod-jobs, picks the cheapest healthy backend that
// can serve each job and publishes it to that backend's dispatch topic.
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz, ...),
// plus AIPROD_MAX_ATTEMPTS (default 3).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/router"
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
	return platform.RunAll(ctx, rt.Run, func(ctx context.Context) error {
		return platform.Serve(ctx, ":"+env.Port, platform.HealthHandler(), nil)
	})
}
