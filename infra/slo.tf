# Service-level objectives of AIPROD, on a custom Cloud Monitoring service,
# each with a fast-burn and a slow-burn alert on its error budget.
#
#   job-success   99% of finished jobs succeed, rolling 28 days
#                 (request-based: aiprod_jobs_completed status=succeeded is
#                 good, status=failed bad; jobs canceled by their caller count
#                 neither way)
#   api-latency   95% of API requests answered within 200 ms (p95 < 200 ms),
#                 rolling 28 days (distribution cut of Cloud Run's
#                 request_latencies of aiprod-ingest, in ms: what callers see,
#                 cold starts included, whatever the code's histogram buckets)
#
# SLIs are monitoring filters (SLOs have no PromQL form); burn-rate
# conditions use select_slo_burn_rate, whose lookback is at most 24 h.

locals {
  slo_period_days = 28

  # Multi-window, multi-burn-rate alerts (Google SRE workbook, "Alerting on
  # SLOs"): a policy fires while both its long and its short window burn the
  # budget faster than threshold = budget share x period / long window.
  #   fast: 2% of the 28-day budget in 1 h (burn rate 13.44), checked over
  #         5 min too: CRITICAL (page)
  #   slow: 5% of the budget in 6 h (burn rate 5.6), checked over 30 min
  #         too: WARNING (ticket)
  slo_burn_windows = {
    fast = { long_s = 3600, long = "1 h", short_s = 300, short = "5 min", budget_share = 0.02, severity = "CRITICAL" }
    slow = { long_s = 21600, long = "6 h", short_s = 1800, short = "30 min", budget_share = 0.05, severity = "WARNING" }
  }
  slo_burn_alerts = {
    for k, w in local.slo_burn_windows : k => merge(w, {
      threshold = w.budget_share * local.slo_period_days * 86400 / w.long_s
    })
  }
}

resource "google_monitoring_custom_service" "aiprod" {
  service_id   = "aiprod"
  display_name = "AIPROD"

  depends_on = [google_project_service.api]
}

resource "google_monitoring_slo" "job_success" {
  service      = google_monitoring_custom_service.aiprod.service_id
  slo_id       = "job-success"
  display_name = "99% of finished jobs succeed (rolling ${local.slo_period_days} days)"

  goal                = 0.99
  rolling_period_days = local.slo_period_days

  request_based_sli {
    good_total_ratio {
      good_service_filter = join(" AND ", [
        "metric.type=\"workload.googleapis.com/aiprod_jobs_completed\"",
        "metric.labels.status=\"succeeded\"",
      ])
      bad_service_filter = join(" AND ", [
        "metric.type=\"workload.googleapis.com/aiprod_jobs_completed\"",
        "metric.labels.status=\"failed\"",
      ])
    }
  }
}

resource "google_monitoring_slo" "api_latency" {
  service      = google_monitoring_custom_service.aiprod.service_id
  slo_id       = "api-latency"
  display_name = "95% of API requests answered within 200 ms (rolling ${local.slo_period_days} days)"

  goal                = 0.95
  rolling_period_days = local.slo_period_days

  request_based_sli {
    distribution_cut {
      distribution_filter = join(" AND ", [
        "metric.type=\"run.googleapis.com/request_latencies\"",
        "resource.type=\"cloud_run_revision\"",
        "resource.labels.service_name=\"${local.ingest_service}\"",
      ])
      range {
        max = 200 # ms
      }
    }
  }
}

resource "google_monitoring_alert_policy" "job_success_burn" {
  for_each = local.slo_burn_alerts

  display_name = "AIPROD: job success SLO, ${each.key} error-budget burn"
  combiner     = "AND"
  severity     = each.value.severity

  conditions {
    display_name = "burn rate over ${each.value.long} above ${format("%.3g", each.value.threshold)}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.job_success.name}\", \"${each.value.long_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
    }
  }

  conditions {
    display_name = "burn rate over ${each.value.short} above ${format("%.3g", each.value.threshold)}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.job_success.name}\", \"${each.value.short_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ${each.value.severity}] job success SLO: ${each.key} error-budget burn"
    content   = <<-EOT
      Jobs fail fast enough to spend ${format("%.3g%%", each.value.budget_share * 100)} of the ${local.slo_period_days}-day error budget of the
      job success SLO (99%) in ${each.value.long} (burn rate above ${format("%.3g", each.value.threshold)} over ${each.value.long}
      and over ${each.value.short}).

      Runbook: [job success SLO burn](${var.runbook_url}#runbook-job-success-slo-burn)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-job-success-slo-burn"
    }
  }
}

resource "google_monitoring_alert_policy" "api_latency_burn" {
  for_each = local.slo_burn_alerts

  display_name = "AIPROD: API latency SLO, ${each.key} error-budget burn"
  combiner     = "AND"
  severity     = each.value.severity

  conditions {
    display_name = "burn rate over ${each.value.long} above ${format("%.3g", each.value.threshold)}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.api_latency.name}\", \"${each.value.long_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
    }
  }

  conditions {
    display_name = "burn rate over ${each.value.short} above ${format("%.3g", each.value.threshold)}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.api_latency.name}\", \"${each.value.short_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
    }
  }

  notification_channels = local.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "[AIPROD ${each.value.severity}] API latency SLO: ${each.key} error-budget burn"
    content   = <<-EOT
      More than 5% of API requests take over 200 ms, fast enough to spend ${format("%.3g%%", each.value.budget_share * 100)} of the
      ${local.slo_period_days}-day error budget of the API latency SLO in ${each.value.long} (burn rate above
      ${format("%.3g", each.value.threshold)} over ${each.value.long} and over ${each.value.short}).

      Runbook: [API latency SLO burn](${var.runbook_url}#runbook-api-latency-slo-burn)
    EOT
    links {
      display_name = "Runbook"
      url          = "${var.runbook_url}#runbook-api-latency-slo-burn"
    }
  }
}
