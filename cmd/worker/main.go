// Command worker is AIPROD's worker service (a Cloud Run service, one per
// backend, that Pub/Sub pushes to in infra/, or that pulls): it consumes
// the dispatch subscriptions of its backends, submits each job to the
// provider, polls it and records the result and cost.
//
// Environment: platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz,
// AIPROD_MAX_ATTEMPTS, ...), plus (see Config in config.go):
//
//	AIPROD_BACKENDS        comma-separated backends this worker serves (default: every catalog backend)
//	AIPROD_POLL_INTERVAL   override every provider's poll interval (e.g. 100ms against simulators)
//	provider credentials   see pkg/backend/providers (RUNWAYML_API_SECRET, LUMAAI_API_KEY,
//	                       REPLICATE_API_TOKEN, FAL_KEY, AIPROD_VEO_STORAGE_URI, ...)
//	AIPROD_PUSH            "true": serve Pub/Sub push deliveries at POST /push on PORT (a Cloud
//	                       Run service behind push subscriptions) instead of pulling
//	AIPROD_STEP_BUDGET     push mode: how long one push step polls before answering (default 45s; at
//	                       most 9m): below the push subscription's ack deadline (infra/ sets 9m
//	                       under 10m, so that most generations take one push)
//	AIPROD_PUSH_AUDIENCE, AIPROD_PUSH_SERVICE_ACCOUNT
//	                       push mode: every push must carry the push subscriptions' OIDC token
//	                       of this audience and service account (package pushauth); required
//	                       unless AIPROD_PUSH_AUTH=off (default oidc), which accepts any request
//	AIPROD_OUTPUT_BUCKET   copy every finished video to this Cloud Storage bucket and record that
//	                       URL (provider URLs expire); AIPROD_OUTPUT_PREFIX names the folder
//	                       (default videos); STORAGE_EMULATOR_HOST is honoured; gs:// videos are
//	                       taken only from the job's folders in that bucket, so
//	                       AIPROD_VEO_STORAGE_URI must point into it
//	AIPROD_ALLOW_PRIVATE_NETWORKS  "true": video downloads may reach loopback and private addresses
//	                       (local runs against the simulators; default false: refused at dial time)
//	AIPROD_SUBMIT_TIMEOUT  how long a submit may take before a redelivered job whose submit
//	                       outcome is unknown is failed over (default 1m)
//	AIPROD_PREFETCH        pull mode: deliveries each capped backend's subscription holds beyond
//	                       its concurrency (default 2; 1 to 1000): fal, capped at 10, holds at
//	                       most 12; the rest of a backlog stays in Pub/Sub
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aiprod/aiprod/pkg/backend/providers"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/pushauth"
	"github.com/aiprod/aiprod/pkg/worker"
)

// run builds the provider adapters, the output copier and the worker, and
// runs the worker until ctx is done: pulling, with the health endpoint, or
// serving push deliveries.
func run(ctx context.Context, cfg Config, d platform.Deps) error {
	backends, err := providers.NewAll(ctx, cfg.Catalog, cfg.Backends,
		providers.Options{Getenv: cfg.ProviderEnv, Project: cfg.Project, PollInterval: cfg.PollInterval})
	if err != nil {
		return err
	}
	var out output.Copier
	if cfg.Output.Bucket != "" {
		g, err := output.NewGCS(ctx, cfg.Output)
		if err != nil {
			return fmt.Errorf("AIPROD_OUTPUT_BUCKET: %w", err)
		}
		defer g.Close()
		out = g
	}
	wk, err := worker.New(worker.Config{Output: out, Queue: d.Queue, Store: d.Store, Backends: backends, Catalog: cfg.Catalog, StepBudget: cfg.StepBudget,
		Circuit: cfg.Circuit, Logger: d.Log, PollInterval: cfg.PollInterval, MaxAttempts: cfg.MaxAttempts, SubmitTimeout: cfg.SubmitTimeout,
		Prefetch: cfg.Prefetch, BudgetDefaults: cfg.BudgetDefaults})
	if err != nil {
		return err
	}
	if !cfg.Push {
		return platform.RunAll(ctx, wk.Run, cfg.ServeHealth)
	}
	auth, err := pushVerifier(ctx, cfg, d.Log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", platform.HealthHandler())
	mux.Handle("/push", wk.PushHandler(ctx, auth))
	d.Log.Info("push mode: serving Pub/Sub push deliveries at /push")
	// On SIGTERM, Serve drains the requests in flight; their steps see ctx
	// done, stop polling and answer nack.
	return platform.Serve(ctx, cfg.Addr(), mux, nil)
}

// pushVerifier returns the authentication of push requests that cfg asks
// for: the OIDC token of the push subscriptions, or, with
// AIPROD_PUSH_AUTH=off, none (with a warning).
func pushVerifier(ctx context.Context, cfg Config, log *slog.Logger) (pushauth.Verifier, error) {
	if cfg.PushAuth == PushAuthOff {
		log.Warn("AIPROD_PUSH_AUTH=off: push requests are NOT authenticated; anyone who reaches /push can inject dispatches (local use only)")
		return pushauth.Off(), nil
	}
	v, err := pushauth.New(ctx, pushauth.Config{Audience: cfg.PushAudience, ServiceAccount: cfg.PushServiceAccount})
	if err != nil {
		return nil, err
	}
	log.Info("push requests authenticated by OIDC token", "audience", cfg.PushAudience, "service_account", cfg.PushServiceAccount)
	return v, nil
}

func main() {
	os.Exit(platform.Main(platform.Service[Config]{Name: "worker", FromEnv: FromEnv, Run: run}))
}
