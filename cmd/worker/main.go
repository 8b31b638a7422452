// Command worker is AIPROD's worker service (Cloud Run worker pool): it
// consumes the dispatch subscriptions of its backends, submits each job to
// the provider, polls it and records the result and cost.
//
// Environment, besides platform's (GOOGLE_CLOUD_PROJECT, PORT for /healthz, ...):
//
//	AIPROD_BACKENDS        comma-separated backends this worker serves (default: every catalog backend)
//	AIPROD_POLL_INTERVAL   override every provider's poll interval (e.g. 100ms against simulators)
//	AIPROD_MAX_ATTEMPTS    attempts before a job fails with backend_failed (default 3)
//	provider credentials   see pkg/backend/providers (RUNWAYML_API_SECRET, LUMAAI_API_KEY,
//	                       REPLICATE_API_TOKEN, FAL_KEY, AIPROD_VEO_STORAGE_URI, ...)
//	AIPROD_PUSH            "true": serve Pub/Sub push deliveries at POST /push on PORT (a Cloud
//	                       Run service behind push subscriptions) instead of pulling
//	AIPROD_OUTPUT_BUCKET   copy every finished video to this Cloud Storage bucket and record that
//	                       URL (provider URLs expire); AIPROD_OUTPUT_PREFIX names the folder
//	                       (default videos); STORAGE_EMULATOR_HOST is honoured
//	AIPROD_SUBMIT_TIMEOUT  how long a submit may take before a redelivered job whose submit
//	                       outcome is unknown is failed over (default 1m)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend/providers"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/worker"
)

func main() { os.Exit(platform.Main("worker", run)) }

func run(ctx context.Context, env platform.Env, log *slog.Logger) error {
	cat, err := env.Catalog()
	if err != nil {
		return err
	}
	var names []string
	if v := env.Getenv("AIPROD_BACKENDS"); v != "" {
		names = strings.Split(v, ",")
	}
	poll, err := env.Duration("AIPROD_POLL_INTERVAL", 0)
	if err != nil {
		return err
	}
	maxAttempts := 0
	if v := env.Getenv("AIPROD_MAX_ATTEMPTS"); v != "" {
		if maxAttempts, err = strconv.Atoi(v); err != nil || maxAttempts < 1 {
			return fmt.Errorf("AIPROD_MAX_ATTEMPTS=%q: want a whole number ≥ 1", v)
		}
	}
	submitTimeout, err := env.Duration("AIPROD_SUBMIT_TIMEOUT", 0)
	if err != nil {
		return err
	}
	backends, err := providers.NewAll(ctx, cat, names, providers.Options{Getenv: env.Getenv, Project: env.Project, PollInterval: poll})
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
	var out output.Copier
	if bucket := env.Getenv("AIPROD_OUTPUT_BUCKET"); bucket != "" {
		g, err := output.NewGCS(ctx, output.Config{Bucket: bucket, Prefix: env.Getenv("AIPROD_OUTPUT_PREFIX")})
		if err != nil {
			return fmt.Errorf("AIPROD_OUTPUT_BUCKET: %w", err)
		}
		defer g.Close()
		out = g
	}
	wk, err := worker.New(worker.Config{Output: out, Queue: q, Store: st, Backends: backends, Catalog: cat, Circuit: env.Circuit,
		Logger: log, PollInterval: poll, MaxAttempts: maxAttempts, SubmitTimeout: submitTimeout})
	if err != nil {
		return err
	}
	push, err := env.Bool("AIPROD_PUSH", false)
	if err != nil {
		return err
	}
	if push {
		mux := http.NewServeMux()
		mux.Handle("/healthz", platform.HealthHandler())
		mux.Handle("/push", wk.PushHandler(ctx))
		log.Info("push mode: serving Pub/Sub push deliveries at /push")
		// On SIGTERM, Serve drains the requests in flight; their steps see
		// ctx done, stop polling and answer nack.
		return platform.Serve(ctx, ":"+env.Port, mux, nil)
	}
	return platform.RunAll(ctx, wk.Run, func(ctx context.Context) error {
		return platform.Serve(ctx, ":"+env.Port, platform.HealthHandler(), nil)
	})
}
