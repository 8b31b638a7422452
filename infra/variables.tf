# Inputs of the AIPROD deployment. Only project_id and images are required.
# test/infra_test.go checks the defaults of backends and backend_credentials
# against the embedded catalog (pkg/catalog/default.json).

variable "project_id" {
  description = "Google Cloud project that runs AIPROD (GOOGLE_CLOUD_PROJECT of every service)."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services and the output bucket."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the (default) Firestore database (a multi-region such as nam5 or eur3, or a region). Cannot be changed after creation."
  type        = string
  default     = "nam5"
}

variable "images" {
  description = "Container image of each service binary: cmd/ingest, cmd/router, cmd/worker and cmd/notifier (for example built with `ko build ./cmd/ingest`)."
  type = object({
    ingest   = string
    router   = string
    worker   = string
    notifier = string
  })
}

variable "backends" {
  description = <<-EOT
    Backend names of the catalog the services run with (pkg/catalog/default.json, or the
    file named by catalog_path). Each gets a dispatch topic aiprod-dispatch-<name>, a
    subscription aiprod-worker-<name>, and a worker service and service account of its own.
    Must list exactly the catalog's backends: a catalog backend missing here has no topic,
    so the router cannot dispatch to it.
  EOT
  type        = list(string)
  default     = ["veo", "runway", "luma", "replicate", "fal"]

  validation {
    # The catalog allows 31 characters; 16 keeps "aiprod-worker-<name>" within
    # the 30 characters of a service account id.
    condition     = alltrue([for b in var.backends : can(regex("^[a-z][a-z0-9-]{0,15}$", b))])
    error_message = "Each backend name must match ^[a-z][a-z0-9-]{0,15}$ (a catalog name short enough for a service account id)."
  }
}

variable "backend_credentials" {
  description = <<-EOT
    Backend name => environment variable holding its API key (the catalog's credential_env).
    Each one becomes a Secret Manager secret aiprod-<backend>-api-key that only that backend's
    worker can read, wired to the variable with value_source.secret_key_ref. A backend that is
    not listed here has no key: it is Veo on Vertex AI, reached with the worker's service
    account (Application Default Credentials), which gets roles/aiplatform.user.
  EOT
  type        = map(string)
  default = {
    runway    = "RUNWAYML_API_SECRET"
    luma      = "LUMAAI_API_KEY"
    replicate = "REPLICATE_API_TOKEN"
    fal       = "FAL_KEY"
  }
}

variable "catalog_path" {
  description = "AIPROD_CATALOG: a catalog file inside the images; empty uses the catalog embedded in the binaries."
  type        = string
  default     = ""
}

variable "ingest_public" {
  description = "true: anyone may call the API (it authenticates API keys itself). false: only ingest_invokers may (Cloud Run IAM; see README.md for the headers)."
  type        = bool
  default     = true
}

variable "ingest_invokers" {
  description = "IAM members given roles/run.invoker on ingest when ingest_public is false, e.g. [\"serviceAccount:upstream@p.iam.gserviceaccount.com\"]."
  type        = list(string)
  default     = []
}

variable "ingest_scaling" {
  description = "Instances of the ingest service (request-driven: 0 is allowed)."
  type        = object({ min = number, max = number })
  default     = { min = 0, max = 10 }
}

variable "router_scaling" {
  description = "Instances of the router service. It pulls from aiprod-router, so at least one always runs."
  type        = object({ min = number, max = number })
  default     = { min = 1, max = 3 }

  validation {
    condition     = var.router_scaling.min >= 1 && var.router_scaling.max >= var.router_scaling.min
    error_message = "router_scaling.min must be at least 1 (a pull subscriber with no instance consumes nothing) and max at least min."
  }
}

variable "notifier_scaling" {
  description = "Instances of the notifier service. It pulls from aiprod-notifier, so at least one always runs."
  type        = object({ min = number, max = number })
  default     = { min = 1, max = 2 }

  validation {
    condition     = var.notifier_scaling.min >= 1 && var.notifier_scaling.max >= var.notifier_scaling.min
    error_message = "notifier_scaling.min must be at least 1 (a pull subscriber with no instance consumes nothing) and max at least min."
  }
}

variable "worker_scaling" {
  description = <<-EOT
    Instances of each backend's worker service. min: instances kept warm (default 0: a push worker
    scales to zero when no generation runs; a pulling worker, worker_push = false, always keeps at
    least 1). max: the most instances of a pulling worker, and of a push worker whose backend has no
    concurrency cap (backend_concurrency 0). A push worker of a capped backend gets its maximum from
    its concurrency instead (run.tf, local.worker_scaling; README.md "Workers that scale with the work").
  EOT
  type        = object({ min = number, max = number })
  default     = { min = 0, max = 3 }

  validation {
    condition     = var.worker_scaling.min >= 0 && var.worker_scaling.max >= 1 && var.worker_scaling.max >= var.worker_scaling.min
    error_message = "worker_scaling.min must not be negative, max must be at least 1 and at least min."
  }
}

variable "backend_concurrency" {
  description = <<-EOT
    Backend name => its catalog concurrency: generations running at once (0: no cap). Sizes each
    push worker: at most concurrency + worker_push_headroom pushes in flight, over the fewest
    instances of at most worker_requests_per_instance each. Must match the catalog the services run
    with; with the embedded catalog the default is right (test/infra_test.go checks it).
  EOT
  type        = map(number)
  default = {
    veo       = 10
    runway    = 2
    luma      = 10
    replicate = 20
    fal       = 10
  }
}

variable "worker_requests_per_instance" {
  description = "Push workers: the most push requests (generation steps) one instance serves at once (Cloud Run max_instance_request_concurrency). A step mostly waits on the provider; the bound limits what one lost instance interrupts and the output copies one instance runs at once."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_requests_per_instance >= 1 && var.worker_requests_per_instance <= 1000
    error_message = "worker_requests_per_instance must be between 1 and 1000 (Cloud Run's limit)."
  }
}

variable "worker_push_headroom" {
  description = "Push workers of capped backends: pushes in flight beyond the backend's concurrency, which wait in hand for a concurrency slot (keeping the backend's waiting mark fresh for fair sharing and the stuck-job sweeper) or resume a long generation; more get Cloud Run's 429 and come back after Pub/Sub's backoff. Like AIPROD_PREFETCH in pull mode."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_push_headroom >= 1
    error_message = "worker_push_headroom must be at least 1: a waiting delivery keeps the backend's waiting mark fresh."
  }
}

variable "worker_push" {
  description = <<-EOT
    true (default): Pub/Sub pushes each dispatch to its worker service's POST /push (AIPROD_PUSH=true)
    with an OIDC token of the aiprod-push service account, which Cloud Run (roles/run.invoker) and the
    worker itself (AIPROD_PUSH_AUDIENCE, AIPROD_PUSH_SERVICE_ACCOUNT; package pushauth) both verify;
    the workers scale on the pushes in flight, to zero when idle. false: the worker services pull
    their subscriptions, with CPU always allocated and at least one instance each.
  EOT
  type        = bool
  default     = true
}

variable "max_attempts" {
  description = "AIPROD_MAX_ATTEMPTS of the router and the workers: attempts per job before it fails with backend_failed."
  type        = number
  default     = 3
}

variable "log_level" {
  description = "AIPROD_LOG_LEVEL of every service: debug, info, warn or error."
  type        = string
  default     = "info"
}

variable "circuit_cooldown" {
  description = "AIPROD_CIRCUIT_COOLDOWN, e.g. \"30s\"; empty keeps the code's default."
  type        = string
  default     = ""
}

variable "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of every service (an OTLP/gRPC collector that forwards to Cloud Trace); empty: spans are created but not exported."
  type        = string
  default     = ""
}

variable "veo_location" {
  description = "AIPROD_VEO_LOCATION of the Veo workers: the Vertex AI region."
  type        = string
  default     = "us-central1"
}

variable "output_bucket" {
  description = "Cloud Storage bucket for finished videos (AIPROD_OUTPUT_BUCKET) and Veo's outputs (AIPROD_VEO_STORAGE_URI); empty: <project_id>-aiprod-outputs."
  type        = string
  default     = ""
}

variable "output_retention_days" {
  description = "Delete videos from the output bucket after this many days; 0 keeps them. Firestore keeps jobs 90 days (firestorestore.Retention)."
  type        = number
  default     = 0
}

variable "ingest_env" {
  description = "Extra plain environment variables of ingest (never keys: those come from Secret Manager)."
  type        = map(string)
  default     = {}
}

variable "router_env" {
  description = "Extra plain environment variables of the router, e.g. { AIPROD_SWEEP_INTERVAL = \"1m\" }."
  type        = map(string)
  default     = {}
}

variable "notifier_env" {
  description = "Extra plain environment variables of the notifier, e.g. { AIPROD_WEBHOOK_MAX_PER_HOST = \"8\" }."
  type        = map(string)
  default     = {}
}

variable "worker_env" {
  description = "Extra plain environment variables of every worker, e.g. { AIPROD_SUBMIT_TIMEOUT = \"1m\" }."
  type        = map(string)
  default     = {}
}

variable "notification_channels" {
  description = "Existing Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) that every alert policy notifies, besides the channels created from notification_emails, notification_webhooks and notification_slack_channel. All empty: alerts show in the console only."
  type        = list(string)
  default     = []
}

variable "notification_emails" {
  description = "Email addresses to create a notification channel for, each notified by every alert policy."
  type        = list(string)
  default     = []
}

variable "notification_webhooks" {
  description = "Name => URL of webhook channels (type webhook_tokenauth) to create, notified by every alert policy. Cloud Monitoring POSTs its own JSON, which a Slack incoming webhook rejects: for Slack use notification_slack_channel. A token in the URL lands in the Terraform state."
  type        = map(string)
  default     = {}
}

variable "notification_slack_channel" {
  description = "Slack channel (e.g. \"#aiprod-alerts\") to create a notification channel for, through the Google Cloud Monitoring Slack app; empty: none. Needs notification_slack_token."
  type        = string
  default     = ""
}

variable "notification_slack_token" {
  description = "OAuth token of the Cloud Monitoring Slack app for notification_slack_channel. It lands in the Terraform state: to avoid that, create the Slack channel in the console and list its id in notification_channels instead."
  type        = string
  default     = ""
  sensitive   = true
}

variable "runbook_url" {
  description = "URL of infra/README.md as people read it; every alert's documentation links <runbook_url>#runbook-<alert>."
  type        = string
  default     = "https://github.com/aiprod/aiprod/blob/main/infra/README.md"
}

variable "alert_ingest_5xx_per_second" {
  description = "Alert when ingest answers more 5xx responses per second than this, averaged over 5 minutes."
  type        = number
  default     = 0.1
}

variable "alert_job_failure_ratio" {
  description = "Alert when more than this fraction of finished jobs (succeeded or failed) fail, over 5 minutes, for 10 minutes."
  type        = number
  default     = 0.05
}

variable "alert_job_failure_min_jobs" {
  description = "The job failure ratio alert needs at least this many finished jobs in 10 minutes (so that 1 failure out of 3 does not page)."
  type        = number
  default     = 10
}

variable "alert_budget_warning_ratio" {
  description = "Warn when a project's spend plus reservations reach this fraction of its monthly budget (a second alert fires at 100%)."
  type        = number
  default     = 0.8
}

variable "alert_router_backlog_seconds" {
  description = "Alert when the oldest unacked message of aiprod-router is older than this."
  type        = number
  default     = 600
}

variable "alert_worker_backlog_seconds" {
  description = "Alert when the oldest unacked message of an aiprod-worker-<backend> subscription is older than this. A dispatch is acked only when its generation ends (up to 30 min, worker.GenerationTimeoutDefault, over one or more pushes or one pull), so this must be above that."
  type        = number
  default     = 2400
}

variable "warehouse_location" {
  description = "Location of the BigQuery dataset aiprod_warehouse (a multi-region such as US or EU, or a region). Cannot be changed after creation."
  type        = string
  default     = "US"
}

variable "warehouse_retention_days" {
  description = "Days the warehouse keeps each day of events (the partition expiration of aiprod_warehouse.events); 0 keeps them. The default keeps two years, for comparisons year over year."
  type        = number
  default     = 730

  validation {
    condition     = var.warehouse_retention_days >= 0 && floor(var.warehouse_retention_days) == var.warehouse_retention_days
    error_message = "warehouse_retention_days must be a whole number of days, 0 or more."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services, the Firestore database and the warehouse table from `terraform destroy`."
  type        = bool
  default     = true
}
