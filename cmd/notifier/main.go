// Command notifier is AIPROD's notifier service (Cloud Run worker pool or
// service): it consumes aiprod-events and POSTs a signed webhook (Standard
// Webhooks) to the webhook_url of every job that reaches a terminal status,
// retrying for 24 h; see package notifier.
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz and
// /metrics, ...), plus (see Config in config.go):
//
//	AIPROD_SECRETS_KEY             base64 of 32 bytes sealing the projects' webhook secrets (required; Secret Manager)
//	AIPROD_WEBHOOK_MAX_IN_FLIGHT   webhook requests in flight at most (default 64)
//	AIPROD_WEBHOOK_MAX_PER_HOST    ... to one host at most (default 8)
//	AIPROD_ALLOW_PRIVATE_NETWORKS  true: webhooks may reach loopback and private addresses (default false; tests, dev)
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

// run builds the notifier and runs it with the health endpoint until ctx
// is done.
func run(ctx context.Context, cfg Config, d platform.Deps) error {
	ring, err := webhooksecrets.New(webhooksecrets.Config{Store: d.Store, Box: cfg.Secrets})
	if err != nil {
		return err
	}
	n, err := notifier.New(notifier.Config{Queue: d.Queue, Store: d.Store, Secrets: ring, Logger: d.Log,
		MaxInFlight: cfg.MaxInFlight, MaxPerHost: cfg.MaxPerHost,
		Client: &http.Client{Transport: cfg.Network.Transport()}})
	if err != nil {
		return err
	}
	return platform.RunAll(ctx, n.Run, cfg.ServeHealth)
}

func main() {
	os.Exit(platform.Main(platform.Service[Config]{Name: "notifier", FromEnv: FromEnv, Run: run}))
}
