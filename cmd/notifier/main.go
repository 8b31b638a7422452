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
//
// It also consumes aiprod-alerts and sends operator alerts (budget
// thresholds, circuits, dead letters, failed jobs, every backend down) to
// the projects' notification settings and to the operations channel:
//
//	AIPROD_OPS_SLACK_WEBHOOK_URL  operations channel: a Slack incoming webhook (system-wide alerts)
//	AIPROD_OPS_EMAILS             operations channel: email addresses, comma-separated
//	AIPROD_OPS_SMS                operations channel: E.164 numbers, comma-separated
//	AIPROD_OPS_EVENTS             alert kinds for the operations channel (default: backend.circuit_open,
//	                              backend.circuit_closed, backend.all_down, backend.anomaly, dlq.message)
//	AIPROD_SMTP_ADDR              SMTP server host:port; with AIPROD_SMTP_FROM turns email on
//	AIPROD_SMTP_FROM              sender address of alert emails
//	AIPROD_SMTP_TLS               starttls (default), tls or none
//	AIPROD_SMTP_USERNAME          AUTH PLAIN user (only over TLS)
//	AIPROD_SMTP_PASSWORD          AUTH PLAIN password (secret: never logged)
//	AIPROD_TWILIO_ACCOUNT_SID     Twilio account; with AIPROD_TWILIO_FROM turns SMS on
//	AIPROD_TWILIO_AUTH_TOKEN      Twilio auth token (secret: never logged)
//	AIPROD_TWILIO_FROM            the account's sending number (E.164)
//	AIPROD_TWILIO_API             Twilio API base URL (default https://api.twilio.com)
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/aiprod/aiprod/pkg/alert"
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
	channels := cfg.Alerts
	channels.Client = &http.Client{Transport: cfg.Network.Transport(), Timeout: alert.DefaultTimeout}
	alerts := &alert.Alerter{Channels: channels, Ops: cfg.Ops, Store: d.Store, Logger: d.Log}
	n, err := notifier.New(notifier.Config{Queue: d.Queue, Store: d.Store, Secrets: ring, Logger: d.Log,
		MaxInFlight: cfg.MaxInFlight, MaxPerHost: cfg.MaxPerHost, Schedule: cfg.Retries,
		Client: &http.Client{Transport: cfg.Network.Transport()},
		Alerts: alerts, Backends: cfg.Catalog.Names()})
	if err != nil {
		return err
	}
	return platform.RunAll(ctx, n.Run, cfg.ServeHealth)
}

func main() {
	os.Exit(platform.Main(platform.Service[Config]{Name: "notifier", FromEnv: FromEnv, Run: run}))
}
