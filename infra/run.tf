# Cloud Run services, one per binary (cmd/ingest, cmd/router, cmd/worker,
# cmd/notifier), configured only through environment variables as
# pkg/platform reads them.
#
#   aiprod-ingest        the HTTP API; request-driven, may scale to zero.
#   aiprod-router        pull subscriber of aiprod-router (and the stuck-job
#                        sweeper): always at least one instance, CPU always
#                        allocated, no ingress.
#   aiprod-worker-<b>    one service per backend (AIPROD_BACKENDS=<b>). One
#                        service per backend keeps each provider's API key
#                        readable by that backend's worker only, lets Veo
#                        alone call Vertex AI, and scales each backend on its
#                        own load. By default (var.worker_push) Pub/Sub pushes
#                        aiprod-worker-<b> to it (POST /push, with an OIDC
#                        token that Cloud Run and the worker verify); each
#                        push is a step of one generation held for up to
#                        worker.PushStepBudget, CPU is allocated only during
#                        requests, and Cloud Run's request-based autoscaling
#                        follows the pushes in flight, from zero, up to the
#                        maximum derived from the backend's concurrency
#                        (local.worker_scaling; README.md "Workers that scale
#                        with the work"). With worker_push = false it pulls
#                        instead, shaped like the router.
#   aiprod-notifier      pull subscriber of aiprod-notifier (job webhooks) and
#                        aiprod-alerts (operator alerts; package notifier and
#                        package alert); same shape as the router, with
#                        AIPROD_SECRETS_KEY from Secret Manager. Its egress
#                        is the internet (receivers' webhook URLs, Slack,
#                        Twilio, SMTP).
#
# Router, workers and notifier serve only GET /healthz (and /metrics, /push)
# on PORT; Cloud Run probes it.
# PORT itself is set by Cloud Run (from container_port) and must not be set
# here. Shutdown: Cloud Run sends SIGTERM and SIGKILL 10 s later; the services
# drain within platform.ShutdownTimeout (8 s) and nack what they could not
# finish, so there is nothing to configure for it.
#
# Keys never appear as plain values: provider API keys, the admin key and the
# secrets key are Secret Manager references (value_source.secret_key_ref), which
# test/infra_test.go checks.

locals {
  # Backends with an API key (backend => variable name), and those without
  # (Veo on Vertex AI): pkg/backend/providers.
  keyed_backends  = { for b, env in var.backend_credentials : b => env if contains(var.backends, b) }
  vertex_backends = [for b in var.backends : b if !contains(keys(var.backend_credentials), b)]

  # pkg/platform: every service.
  common_env = merge(
    {
      GOOGLE_CLOUD_PROJECT = var.project_id
      # Terraform owns the topology (pubsub.tf); the services' accounts may
      # not create topics or subscriptions.
      AIPROD_PROVISION = "false"
      AIPROD_LOG_LEVEL = var.log_level
      # Spans to Cloud Trace, metrics to Cloud Monitoring: what the alert
      # policies, SLOs and dashboard of monitoring.tf read.
      AIPROD_GCP_TELEMETRY = "true"
    },
    var.catalog_path == "" ? {} : { AIPROD_CATALOG = var.catalog_path },
    var.circuit_cooldown == "" ? {} : { AIPROD_CIRCUIT_COOLDOWN = var.circuit_cooldown },
    var.otel_exporter_otlp_endpoint == "" ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_exporter_otlp_endpoint },
  )

  # OTEL_SERVICE_NAME names the service in traces: telemetry.Setup does not
  # set a resource, so the SDK's default reads this variable.
  ingest_env = merge(local.common_env, { OTEL_SERVICE_NAME = "aiprod-ingest" }, var.ingest_env)

  router_env = merge(
    local.common_env,
    {
      OTEL_SERVICE_NAME   = "aiprod-router"
      AIPROD_MAX_ATTEMPTS = tostring(var.max_attempts)
    },
    var.router_env,
  )

  # var.worker_push: backend => how Pub/Sub pushes to its worker service.
  # audience: the aud of the OIDC token, a custom audience of the service
  # (Cloud Run checks it) and AIPROD_PUSH_AUDIENCE (the worker checks it);
  # one per worker, so that a token for one worker is refused by the others.
  # endpoint: the service's deterministic URL, https://<service>-<project
  # number>.<region>.run.app (its .uri would close a cycle: subscription ->
  # service -> subscriber grants -> subscription).
  worker_push = var.worker_push ? {
    for b in var.backends : b => {
      audience = "projects/${var.project_id}/services/aiprod-worker-${b}/push"
      endpoint = "https://aiprod-worker-${b}-${data.google_project.this.number}.${var.region}.run.app/push"
    }
  } : {}
  notifier_env = merge(local.common_env, { OTEL_SERVICE_NAME = "aiprod-notifier" }, var.notifier_env)

  # Push steps (worker.PushStepBudget, AIPROD_STEP_BUDGET) end a minute
  # before the ack deadline of the pushing subscriptions
  # (local.push_ack_deadline_seconds, pubsub.tf); Cloud Run's request
  # timeout is five minutes past it, so that Cloud Run never cuts a step
  # Pub/Sub still waits for, nor the outcome write and video copy of its
  # last poll.
  worker_step_budget_seconds     = local.push_ack_deadline_seconds - 60
  worker_request_timeout_seconds = local.push_ack_deadline_seconds + 300

  # Push workers of capped backends: backend => pushes in flight at most,
  # its concurrency (generations holding a slot) plus the headroom (pushes
  # waiting for a slot, or resuming a long generation); and the fewest
  # instances of at most var.worker_requests_per_instance that hold them.
  # More pushes get Cloud Run's 429 without reaching the code, and come
  # back after Pub/Sub's retry backoff. test/infra_test.go checks this
  # against catalog.Default().
  worker_push_capacity = {
    for b in var.backends : b => lookup(var.backend_concurrency, b, 0) + var.worker_push_headroom
    if var.worker_push && lookup(var.backend_concurrency, b, 0) > 0
  }
  worker_push_instances = {
    for b, n in local.worker_push_capacity : b => max(ceil(n / var.worker_requests_per_instance), var.worker_scaling.min)
  }

  # Backend => its worker's instances (min, max) and requests per instance.
  # A push worker of a capped backend spreads its capacity evenly over its
  # instances; one of an uncapped backend, and a pulling worker (which
  # keeps at least one instance: a pull subscriber with none consumes
  # nothing), take var.worker_scaling.
  worker_scaling = {
    for b in var.backends : b => contains(keys(local.worker_push_capacity), b) ? {
      min         = var.worker_scaling.min
      max         = local.worker_push_instances[b]
      concurrency = ceil(local.worker_push_capacity[b] / local.worker_push_instances[b])
      } : {
      min         = var.worker_push ? var.worker_scaling.min : max(var.worker_scaling.min, 1)
      max         = max(var.worker_scaling.max, var.worker_scaling.min, 1)
      concurrency = var.worker_requests_per_instance
    }
  }

  worker_env = {
    for b in var.backends : b => merge(
      local.common_env,
      {
        OTEL_SERVICE_NAME    = "aiprod-worker-${b}"
        AIPROD_BACKENDS      = b
        AIPROD_MAX_ATTEMPTS  = tostring(var.max_attempts)
        AIPROD_OUTPUT_BUCKET = google_storage_bucket.outputs.name
      },
      contains(local.vertex_backends, b) ? {
        AIPROD_VEO_LOCATION    = var.veo_location
        AIPROD_VEO_STORAGE_URI = "gs://${google_storage_bucket.outputs.name}/veo"
      } : {},
      var.worker_push ? {
        AIPROD_PUSH                 = "true"
        AIPROD_PUSH_AUDIENCE        = local.worker_push[b].audience
        AIPROD_PUSH_SERVICE_ACCOUNT = google_service_account.push.email
        AIPROD_STEP_BUDGET          = "${local.worker_step_budget_seconds}s"
      } : {},
      var.worker_env,
    )
  }

  # Backend => { variable => Secret Manager secret } of its API key.
  worker_secret_env = {
    for b in var.backends : b => {
      for kb, env in local.keyed_backends : env => google_secret_manager_secret.backend[kb].secret_id if kb == b
    }
  }

  # Router, notifier and pulling workers hold streaming pulls and poll
  # providers between requests: CPU is always allocated (cpu_idle = false).
  # Push workers do all their work inside push requests: CPU only then.
  puller_resources = { cpu = "1", memory = "1Gi" }
}

resource "google_cloud_run_v2_service" "ingest" {
  name                = "aiprod-ingest"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.service["ingest"].email

    scaling {
      min_instance_count = var.ingest_scaling.min
      max_instance_count = var.ingest_scaling.max
    }

    containers {
      image = var.images.ingest

      ports {
        container_port = 8080 # platform.PortDefault; Cloud Run passes it as PORT
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle          = true # all its work happens inside requests
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.ingest_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "AIPROD_ADMIN_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.admin_key.secret_id
            version = "latest"
          }
        }
      }

      # Seals the secret of POST /v1/admin/projects/{p}/webhook-secret.
      env {
        name = "AIPROD_SECRETS_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secrets_key.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        period_seconds    = 2
        failure_threshold = 30
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.service,
    google_secret_manager_secret_iam_member.ingest_admin_key,
    google_secret_manager_secret_iam_member.secrets_key,
  ]
}

resource "google_cloud_run_v2_service" "router" {
  name                = "aiprod-router"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.service["router"].email

    scaling {
      min_instance_count = var.router_scaling.min
      max_instance_count = var.router_scaling.max
    }

    containers {
      image = var.images.router

      ports {
        container_port = 8080
      }

      resources {
        limits            = local.puller_resources
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.router_env
        content {
          name  = env.key
          value = env.value
        }
      }

      startup_probe {
        period_seconds    = 2
        failure_threshold = 30
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.service,
    google_pubsub_subscription_iam_member.subscriber,
  ]
}

resource "google_cloud_run_v2_service" "worker" {
  for_each = toset(var.backends)

  name                = "aiprod-worker-${each.key}"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY" # Pub/Sub pushes of this project count as internal
  deletion_protection = var.deletion_protection
  custom_audiences    = var.worker_push ? [local.worker_push[each.key].audience] : []

  template {
    service_account = google_service_account.service["worker-${each.key}"].email

    # Push: Cloud Run counts the pushes in flight (each a generation step)
    # and scales on them; the maximum bounds them (local.worker_scaling).
    max_instance_request_concurrency = local.worker_scaling[each.key].concurrency
    timeout                          = var.worker_push ? "${local.worker_request_timeout_seconds}s" : null

    scaling {
      min_instance_count = local.worker_scaling[each.key].min
      max_instance_count = local.worker_scaling[each.key].max
    }

    containers {
      image = var.images.worker

      ports {
        container_port = 8080
      }

      resources {
        limits            = local.puller_resources
        cpu_idle          = var.worker_push # push: CPU only while a push is in flight
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.worker_env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }

      # The backend's API key, if it has one (catalog credential_env).
      dynamic "env" {
        for_each = local.worker_secret_env[each.key]
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        period_seconds    = 2
        failure_threshold = 30
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.service,
    google_project_iam_member.worker_vertex,
    google_pubsub_subscription_iam_member.subscriber,
    google_secret_manager_secret_iam_member.worker_backend_key,
    google_storage_bucket_iam_member.worker_outputs,
  ]
}

resource "google_cloud_run_v2_service" "notifier" {
  name                = "aiprod-notifier"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.service["notifier"].email

    scaling {
      min_instance_count = var.notifier_scaling.min
      max_instance_count = var.notifier_scaling.max
    }

    containers {
      image = var.images.notifier

      ports {
        container_port = 8080
      }

      resources {
        limits            = local.puller_resources
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.notifier_env
        content {
          name  = env.key
          value = env.value
        }
      }

      # Opens the projects' webhook signing secrets; required.
      env {
        name = "AIPROD_SECRETS_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secrets_key.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        period_seconds    = 2
        failure_threshold = 30
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.service,
    google_pubsub_subscription_iam_member.subscriber,
    google_secret_manager_secret_iam_member.secrets_key,
  ]
}
