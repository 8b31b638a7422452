// Package platform is what the three service binaries (cmd/ingest,
// cmd/router, cmd/worker) share: reading the environment into a
// configuration, opening the production Pub/Sub and Firestore clients,
// tracing and logging set-up, an HTTP server that drains on SIGTERM, and
// the process entry point Main.
//
// # Configuration
//
// Every service reads each of its environment variables once, in its
// FromEnv (cmd/*/config.go), through a Vars: the variables every service
// shares are read by ReadConfig into a Config, which each service's own
// Config embeds. A bad value (not a number, duration or boolean, out of
// range, missing when required) is an error that names the variable, for
// example
//
//	AIPROD_SUBMIT_TIMEOUT: "abc" is not a duration (e.g. 90s, 2m)
//
// and Main logs every such error and exits with status 2 before it opens
// any client. An empty variable counts as unset.
//
// # Environment
//
//	GOOGLE_CLOUD_PROJECT      Google Cloud project of Pub/Sub and Firestore (required)
//	PORT                      HTTP port (default 8080): the API for ingest, /healthz for the others
//	PUBSUB_EMULATOR_HOST      use a Pub/Sub emulator (the client library reads it)
//	FIRESTORE_EMULATOR_HOST   use a Firestore emulator (the client library reads it)
//	AIPROD_CATALOG            backend catalog file (default: the embedded catalog)
//	AIPROD_PROVISION          create missing topics and subscriptions at start
//	                          (default: true when PUBSUB_EMULATOR_HOST is set, else false)
//	AIPROD_ACK_DEADLINE       ack deadline of the subscriptions it provisions (default 60s; 10s..10m)
//	AIPROD_CIRCUIT_COOLDOWN   how long an open circuit waits for its probe (default 30s)
//	AIPROD_LOG_LEVEL          debug, info, warn or error (default info)
//	AIPROD_MAX_ATTEMPTS       attempts per job before backend_failed (default 3; used by the
//	                          router and the worker, checked by every service)
//	AIPROD_DEFAULT_MONTHLY_LIMIT_USD  monthly limit of every project without a budget of its
//	                          own (default 100; 0: none, such projects are unlimited)
//	OTEL_EXPORTER_OTLP_ENDPOINT  export spans and metrics over OTLP/gRPC (and the other OTEL_* variables)
//	AIPROD_GCP_TELEMETRY         true: export spans to Cloud Trace, metrics to Cloud Monitoring
//
// Each binary adds its own variables; see its package doc.
//
// # Readiness
//
// Ready(store, queue, topics...) is the check behind ingest's GET /readyz
// (api.Config.Ready): one read of the store and queue.TopicChecker's
// CheckTopic of each topic, so the service reports ready only once
// Firestore and Pub/Sub answer.
package platform
