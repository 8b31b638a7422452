// Command ingest is AIPROD's HTTP API service (Cloud Run service): it
// validates job requests, stores them and publishes them to aiprod-jobs.
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT, ...), plus (see
// Config in config.go):
//
//	AIPROD_ADMIN_KEY          bearer token of the /v1/admin routes, at least 32 characters (unset: admin routes refuse)
//	AIPROD_BOOTSTRAP_API_KEY  "project:key" seeded at start (idempotent), for a first key or a test stack; key of at least 32 characters
//	AIPROD_RATE_LIMIT         requests a second per API key (default 50, burst twice that; 0: no limit)
//	AIPROD_SECRETS_KEY        base64 of 32 bytes sealing webhook secrets (unset: the webhook-secret route answers 404)
//	AIPROD_ALLOW_PRIVATE_NETWORKS  true: accept webhook_urls and alert destinations on private networks (default false)
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/console"
	"github.com/aiprod/aiprod/pkg/deadletter"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

// run seeds the bootstrap API key, builds the API and serves it until ctx
// is done. GET /readyz answers 503 until Firestore answers a read and
// Pub/Sub says that aiprod-jobs exists (platform.Ready).
func run(ctx context.Context, cfg Config, d platform.Deps) error {
	if cfg.BootstrapKey != "" {
		if err := api.SeedAPIKey(ctx, d.Store, cfg.BootstrapKey, cfg.BootstrapProject, time.Now()); err != nil {
			return fmt.Errorf("seed AIPROD_BOOTSTRAP_API_KEY: %w", err)
		}
	}
	// Dead-letter replays are the router's: ingest publishes no dispatch.
	dl, err := deadletter.NewRemote(deadletter.RemoteConfig{Queue: d.Queue, Results: d.Store, Backends: cfg.Catalog.Names()})
	if err != nil {
		return err
	}
	acfg := api.Config{Store: d.Store, Queue: d.Queue, Catalog: cfg.Catalog, AdminKey: cfg.AdminKey,
		Circuit: cfg.Circuit, Logger: d.Log, RateLimit: cfg.RateLimit, BudgetDefaults: cfg.BudgetDefaults,
		DeadLetters:    dl,
		MetricsHandler: telemetry.MetricsHandler(), Ready: platform.Ready(d.Store, d.Queue, queue.TopicJobs),
		AllowPrivateNetworks: cfg.AllowPrivateNetworks}
	if cfg.Console {
		acfg.Console = console.MustNew()
	}
	if cfg.Secrets != nil {
		ring, err := webhooksecrets.New(webhooksecrets.Config{Store: d.Store, Box: cfg.Secrets})
		if err != nil {
			return err
		}
		acfg.WebhookSecrets = ring
	}
	srv, err := api.New(acfg)
	if err != nil {
		return err
	}
	return platform.Serve(ctx, cfg.Addr(), srv.Handler(), func(a net.Addr) { d.Log.Info("listening", "addr", a.String()) })
}

func main() {
	os.Exit(platform.Main(platform.Service[Config]{Name: "ingest", FromEnv: FromEnv, Run: run}))
}
