# Alerting: notification channels and the alert policies of AIPROD (the SLOs
# and their burn-rate alerts are in slo.tf, the dashboard in dashboard.tf).
#
# Query language: PromQL everywhere (condition_prometheus_query_language and
# the dashboard's prometheusQuery). MQL is deprecated in Cloud Monitoring. The
# only exceptions are what PromQL cannot express: the SLIs (monitoring
# filters) and the SLO burn-rate conditions (select_slo_burn_rate filters).
#
# Metric names, from pkg/metrics/names.go (metrics.Names):
#   Cloud Monitoring type  workload.googleapis.com/<instrument name>
#   in PromQL              workload_googleapis_com:<name with "." as "_">
#   histograms             <PromQL name>_bucket / _count / _sum
# Counters are CUMULATIVE: no "_total" suffix (that is the Prometheus
# exporter's name); use rate() or increase().
# test/infra_test.go checks every metric named here against metrics.Names,
# every subscription list against queue.Topology, and every runbook link
# against the "Runbook" section of README.md.
#
# Every policy notifies local.notification_channels and its documentation
# links its runbook section: ${var.runbook_url}#runbook-<alert>.

locals {
  # var.notification_channels plus the channels created below.
  notification_channels = concat(
    var.notification_channels,
    [for c in google_monitoring_notification_channel.email : c.id],
    [for c in google_monitoring_notification_channel.webhook : c.id],
    [for c in google_monitoring_notification_channel.slack : c.id],
  )

  # Subscriptions of the backlog alert, from pubsub.tf: those handled at
  # once (the router's aiprod-router and aiprod-dlq-replay, the notifier's
  # aiprod-alerts) and the workers'. aiprod-notifier is
  # left out: it holds events whose webhooks wait for their retries (up to
  # 24 h, package notifier), so its oldest unacked message measures the
  # receivers, not the notifier (aiprod_webhook_deliveries_total does).
  router_subscriptions = [for s, topic in local.subscriptions : s if contains(["aiprod-jobs", "aiprod-dlq-replay"], topic) || s == "aiprod-alerts"]
  worker_subscriptions = [for s, topic in local.subscriptions : s if !contains(["aiprod-jobs", "aiprod-events", "aiprod-dlq-replay"], topic)]

  # Every dead-letter subscription (named like its topic, pubsub.tf).
  dead_letter_subscriptions = sort(values(local.dead_letter_topics))

  ingest_service = local.service_accounts.ingest # the Cloud Run service name

  # Thresholds as shown in titles: 0.05 => "5%".
  job_failure_pct    = format("%.3g%%", var.alert_job_failure_ratio * 100)
  budget_warning_pct = format("%.3g%%", var.alert_budget_warning_ratio * 100)

  # PromQL matchers of those subscription lists (names hold no regexp
  # metacharacters).
  router_subscriptions_re      = join("|", local.router_subscriptions)
  worker_subscriptions_re      = join("|", local.worker_subscriptions)
  dead_letter_subscriptions_re = join("|", local.dead_letter_subscriptions)
}

# ---- Notification channels -------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.notification_emails)

  display_name = "AIPROD alerts: ${each.key}"
  type         = "email"
  labels = {
    email_address = each.key
  }

  depends_on = [google_project_service.api]
}

# Generic webhooks (an incident tool, a chat relay). Cloud Monitoring POSTs
# its own JSON: a Slack incoming webhook rejects it, use the Slack channel
# below for Slack.
resource "google_monitoring_notification_channel" "webhook" {
  for_each = var.notification_webhooks

  display_name = "AIPROD alerts: ${each.key}"
  type         = "webhook_tokenauth"
  labels = {
    url = each.value
  }

  depends_on = [google_project_service.api]
}

# Slack through the Google Cloud Monitoring Slack app. The token lands in the
# Terraform state; creating the channel in the console and listing its id in
# notification_channels avoids that.
resource "google_monitoring_notification_channel" "slack" {
  for_each = { for c in [var.notification_slack_channel] : c => c if c != "" }

  display_name = "AIPROD alerts: Slack ${each.key}"
  type         = "slack"
  labels = {
    channel_name = each.key
  }
  sensitive_labels {
    auth_token = var.notification_slack_token
  }

  lifecycle {
    precondition {
      condition     = var.notification_slack_token != ""
      error_message = "notification_slack_channel needs notification_slack_token (the Cloud Monitoring Slack app's OAuth token)."
    }
  }

  depends_on = [google_project_service.api]
}

# ---- Jobs --------------------------------------------------------------------

resource "google_monitoring_alert_policy" "job_failure_ratio" {
  display_name = "AIPROD: job failure ratio above ${local.job_failure_pct}"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "failed / (succeeded + failed) over 5 min, for 10 min"
    condition_prometheus_query_language {
      # Jobs canceled by their caller count neither way (as in the job
      # success SLO). At least alert_job_failure_min_jobs finished jobs in 10
      # minutes, so that 1 failure out of 3 does not page.
      query                     = <<-EOT
        (
          sum(rate(workload_googleapis_com:aiprod_jobs_completed{status="failed"}[5m]))
          /
          sum(rate(workload_googleapis_com:aiprod_jobs_completed{status=~"succeeded|failed"}[5m]))
        ) > ${var.alert_job_failure_ratio}
        and
        sum(increase(workload_googleapis_com:aiprod_jobs_completed{status=~"succeeded|failed"}[10m])) >= ${var.alert_job_failure_min_jobs}
      EOT
      duration                  = "600s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ERROR] more than ${local.job_failure_pct} of jobs fail"
    content   = <<-EOT
      More than ${local.job_failure_pct} of the jobs that finished in the last minutes failed
      (`aiprod_jobs_completed{status="failed"}`), for 10 minutes. Break it down by backend and
      error code, then follow the runbook.

      Runbook: [job failure ratio](${var.runbook_url}#runbook-job-failure-ratio)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-job-failure-ratio"
    }
  }
}

# ---- Backends ------------------------------------------------------------------

resource "google_monitoring_alert_policy" "backend_circuit_open" {
  display_name = "AIPROD: backend circuit open"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "circuit state 2 (open) for 5 min and no job succeeded on the backend, per backend"
    condition_prometheus_query_language {
      # max_over_time: the half-open probe after each cool-down (state 1)
      # must not reset the 5 minutes of a backend that keeps failing.
      # The gauge is per process (the router records every backend's state
      # on each routed job, a worker on its own breaker writes), so one
      # instance may still report a circuit that another closed: jobs that
      # succeed on the backend clear the alert.
      query                     = <<-EOT
        max by (backend) (max_over_time(workload_googleapis_com:aiprod_backend_circuit_state[2m])) == 2
        unless on (backend)
        sum by (backend) (increase(workload_googleapis_com:aiprod_jobs_completed{status="succeeded"}[5m])) > 0
      EOT
      duration                  = "300s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD WARNING] a backend's circuit is open"
    content   = <<-EOT
      A backend failed 3 times in a row (infrastructure failures) and its circuit has stayed open
      for 5 minutes: the router sends its jobs to the other backends, at their prices. The
      incident's `backend` label names it.

      Runbook: [backend circuit open](${var.runbook_url}#runbook-backend-circuit-open)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-backend-circuit-open"
    }
  }
}

resource "google_monitoring_alert_policy" "backend_anomaly" {
  display_name = "AIPROD: backend anomaly"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "a backend's generation time, error rate or cost accuracy anomalous, per backend and signal"
    condition_prometheus_query_language {
      # The router's usage roller judges each backend every round (a minute)
      # and records 1 while a signal is anomalous (robust z-score of the last
      # 15 minutes against 12 hours): max_over_time bridges rounds in which
      # another router's roller judged.
      query                     = <<-EOT
        max by (backend, signal) (max_over_time(workload_googleapis_com:aiprod_backend_anomaly[5m])) == 1
      EOT
      duration                  = "300s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD WARNING] a backend is anomalous"
    content   = <<-EOT
      A backend's generation time, error rate or cost accuracy (the incident's `signal` label) has
      been far from its usual for 5 minutes (`backend` label). Routing already weighs what it
      learns; this says why costs or completion times moved.

      Runbook: [backend anomaly](${var.runbook_url}#runbook-backend-anomaly)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-backend-anomaly"
    }
  }
}

resource "google_monitoring_alert_policy" "backend_circuits_all_open" {
  display_name = "AIPROD: every backend circuit open"
  combiner     = "OR"
  severity     = "CRITICAL"

  conditions {
    display_name = "every backend's circuit open for 2 min and no job succeeded in 5 min"
    condition_prometheus_query_language {
      # Every backend that reports a circuit (the router reports all of the
      # catalog's) is open, and no job succeeded anywhere: a stale open
      # series alone cannot page.
      query                     = <<-EOT
        min(max by (backend) (max_over_time(workload_googleapis_com:aiprod_backend_circuit_state[2m]))) == 2
        unless on ()
        sum(increase(workload_googleapis_com:aiprod_jobs_completed{status="succeeded"}[5m])) > 0
      EOT
      duration                  = "120s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD CRITICAL] every backend circuit is open: no job can run"
    content   = <<-EOT
      Every backend's circuit is open: the router finds no candidate and new jobs fail with
      `no_backend`. Usually a shared cause (egress, DNS, credentials, the workers themselves)
      rather than every provider at once.

      Runbook: [every backend circuit open](${var.runbook_url}#runbook-every-backend-circuit-open)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-every-backend-circuit-open"
    }
  }
}

# ---- Budgets -------------------------------------------------------------------

locals {
  # (spent + reserved) / limit of each project with a budget. A project that
  # never reserved anything has no reserved series: count it as 0.
  budget_used_ratio = <<-EOT
    (
      max by (project) (workload_googleapis_com:aiprod_budget_spent_usd)
      + on (project)
      (
        max by (project) (workload_googleapis_com:aiprod_budget_reserved_usd)
        or
        0 * max by (project) (workload_googleapis_com:aiprod_budget_spent_usd)
      )
    )
    / on (project)
    max by (project) (workload_googleapis_com:aiprod_budget_limit_usd > 0)
  EOT
}

resource "google_monitoring_alert_policy" "budget_warning" {
  display_name = "AIPROD: project budget at ${local.budget_warning_pct}"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "(spent + reserved) / limit >= ${var.alert_budget_warning_ratio}, per project"
    condition_prometheus_query_language {
      query                     = "${local.budget_used_ratio} >= ${var.alert_budget_warning_ratio}"
      duration                  = "60s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD WARNING] a project used ${local.budget_warning_pct} of its monthly budget"
    content   = <<-EOT
      A project's spend plus its outstanding reservations reached ${local.budget_warning_pct} of its
      monthly limit (`aiprod_budget_*_usd`, label `project`). At 100% its new jobs fail with
      `budget_exceeded`.

      Runbook: [budget warning](${var.runbook_url}#runbook-budget-warning)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-budget-warning"
    }
  }
}

resource "google_monitoring_alert_policy" "budget_exhausted" {
  display_name = "AIPROD: project budget exhausted"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "(spent + reserved) / limit at 100%, per project"
    condition_prometheus_query_language {
      # 0.999: the gauges are float USD; the hard budget never goes above 1.
      query                     = "${local.budget_used_ratio} >= 0.999"
      duration                  = "60s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  conditions {
    display_name = "jobs failing with budget_exceeded, per project"
    condition_prometheus_query_language {
      # Also catches a budget that no further job fits in, below 100%.
      query                     = "sum by (project) (increase(workload_googleapis_com:aiprod_jobs_completed{status=\"failed\", error_code=\"budget_exceeded\"}[15m])) > 0"
      duration                  = "0s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ERROR] a project's budget is exhausted: its jobs fail with budget_exceeded"
    content   = <<-EOT
      A project reached 100% of its monthly budget, or its jobs fail with `budget_exceeded`
      (label `project`). Its new jobs fail until the next period or a higher limit.

      Runbook: [budget exhausted](${var.runbook_url}#runbook-budget-exhausted)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-budget-exhausted"
    }
  }
}

# ---- Queues --------------------------------------------------------------------

resource "google_monitoring_alert_policy" "pubsub_backlog" {
  display_name = "AIPROD: messages waiting on a router or worker subscription"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "oldest unacked message of the router subscription older than ${var.alert_router_backlog_seconds} s"
    condition_prometheus_query_language {
      query                     = "max by (subscription_id) (pubsub_googleapis_com:subscription_oldest_unacked_message_age{monitored_resource=\"pubsub_subscription\", subscription_id=~\"${local.router_subscriptions_re}\"}) > ${var.alert_router_backlog_seconds}"
      duration                  = "60s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  conditions {
    # A worker holds each dispatch message for its whole generation (pull
    # mode, up to worker.GenerationTimeoutDefault, 30 min): its own
    # threshold is above that.
    display_name = "oldest unacked message of a worker subscription older than ${var.alert_worker_backlog_seconds} s"
    condition_prometheus_query_language {
      query                     = "max by (subscription_id) (pubsub_googleapis_com:subscription_oldest_unacked_message_age{monitored_resource=\"pubsub_subscription\", subscription_id=~\"${local.worker_subscriptions_re}\"}) > ${var.alert_worker_backlog_seconds}"
      duration                  = "60s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ERROR] jobs wait in a Pub/Sub subscription"
    content   = <<-EOT
      The oldest unacknowledged message of a subscription (label `subscription_id`) is older
      than its threshold: its consumer (aiprod-router, or aiprod-worker-<backend>) is not
      keeping up, not running, or failing on every delivery.

      Runbook: [Pub/Sub backlog](${var.runbook_url}#runbook-pubsub-backlog)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-pubsub-backlog"
    }
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "AIPROD: dead-lettered messages"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "undelivered messages in a dead-letter subscription"
    condition_prometheus_query_language {
      query                     = "max by (subscription_id) (pubsub_googleapis_com:subscription_num_undelivered_messages{monitored_resource=\"pubsub_subscription\", subscription_id=~\"${local.dead_letter_subscriptions_re}\"}) > 0"
      duration                  = "60s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD WARNING] a message was dead-lettered"
    content   = <<-EOT
      A message reached a dead-letter topic (label `subscription_id`): a service refused it
      (attribute `reason`) or Pub/Sub gave up after ${local.max_delivery_attempts} deliveries. Dead letters are
      kept 7 days; replaying is safe (every stage is idempotent).

      Runbook: [dead letters](${var.runbook_url}#runbook-dead-letters)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-dead-letters"
    }
  }
}

# ---- Telemetry -----------------------------------------------------------------

resource "google_monitoring_alert_policy" "metrics_absent" {
  display_name = "AIPROD: application metrics missing while traffic flows"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "ingest accepts jobs (HTTP 202) but reports no aiprod_jobs_accepted"
    condition_prometheus_query_language {
      # 202 is POST /v1/jobs's answer and no other route's.
      query                     = <<-EOT
        sum(rate(run_googleapis_com:request_count{monitored_resource="cloud_run_revision", service_name="${local.ingest_service}", response_code="202"}[10m])) > 0
        unless
        sum(rate(workload_googleapis_com:aiprod_jobs_accepted[10m])) > 0
      EOT
      duration                  = "300s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  conditions {
    display_name = "router and workers ack messages but report no aiprod_queue_messages"
    condition_prometheus_query_language {
      query                     = <<-EOT
        sum(rate(pubsub_googleapis_com:subscription_ack_message_count{monitored_resource="pubsub_subscription", subscription_id=~"${local.router_subscriptions_re}|${local.worker_subscriptions_re}"}[10m])) > 0
        unless
        sum(rate(workload_googleapis_com:aiprod_queue_messages[10m])) > 0
      EOT
      duration                  = "300s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD WARNING] application metrics are missing: alerts, SLOs and the dashboard are blind"
    content   = <<-EOT
      Cloud Run or Pub/Sub sees traffic, but the services' own metrics (workload.googleapis.com/aiprod_*)
      do not arrive. Every alert and SLO built on them is blind until they do.

      Runbook: [metrics absent](${var.runbook_url}#runbook-metrics-absent)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-metrics-absent"
    }
  }
}

# ---- API -----------------------------------------------------------------------

resource "google_monitoring_alert_policy" "ingest_5xx" {
  display_name = "AIPROD: ingest 5xx responses"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "aiprod-ingest 5xx per second over 5 min"
    condition_prometheus_query_language {
      query                     = "sum(rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\", service_name=\"${local.ingest_service}\", response_code_class=\"5xx\"}[5m])) > ${var.alert_ingest_5xx_per_second}"
      duration                  = "0s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ERROR] the API answers 5xx"
    content   = <<-EOT
      aiprod-ingest answers more than ${var.alert_ingest_5xx_per_second} 5xx responses per second: usually Firestore or
      Pub/Sub unreachable or denied, or instances crashing.

      Runbook: [ingest 5xx](${var.runbook_url}#runbook-ingest-5xx)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-ingest-5xx"
    }
  }
}
