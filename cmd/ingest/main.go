// Command ingest is AIPROD's HTTP API service (Cloud Run service): it
// validates job requests, stores them and publishes them to aiprod-jobs.
//
// Environment, besides platform's (GOOGLE_CLOUD_PROJECT, PORT, ...):
//
//	AIPROD_ADMIN_KEY          bearer token of the /v1/admin routes (unset: admin routes refuse)
//	AIPROD_BOOTSTRAP_API_KEY  "project:key" seeded at start (idempotent), for a first key or a test stack
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/platform"
)

func main() { os.Exit(platform.Main("ingest", run)) }

func run(ctx context.Context, env platform.Env, log *slog.Logger) error {
	cat, err := env.Catalog()
	if err != nil {
		return err
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
	if v := env.Getenv("AIPROD_BOOTSTRAP_API_KEY"); v != "" {
		project, key, ok := strings.Cut(v, ":")
		if !ok || project == "" || key == "" {
			return fmt.Errorf("AIPROD_BOOTSTRAP_API_KEY: want project:key")
		}
		if err := api.SeedAPIKey(ctx, st, key, project, time.Now()); err != nil {
			return fmt.Errorf("AIPROD_BOOTSTRAP_API_KEY: %w", err)
		}
	}
	srv, err := api.New(api.Config{Store: st, Queue: q, Catalog: cat, AdminKey: env.Getenv("AIPROD_ADMIN_KEY"),
		Circuit: env.Circuit, Logger: log, DeadLetters: deadletter.NewService(q, cat.Names(), 0)})
	if err != nil {
		return err
	}
	return platform.Serve(ctx, ":"+env.Port, srv.Handler(), func(a net.Addr) { log.Info("listening", "addr", a.String()) })
}
