# Three alert policies, kept few on purpose:
#   - a dead-letter subscription holds messages (a job needs a person);
#   - ingest answers 5xx;
#   - aiprod-router falls behind (jobs wait to be routed).
# Each notifies var.notification_channels (none: the console only).

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "AIPROD: dead-lettered messages"
  combiner     = "OR"

  conditions {
    display_name = "Undelivered messages in an aiprod-*-dlq subscription"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.labels.subscription_id = monitoring.regex.full_match(\"aiprod-.*-dlq\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A message reached a dead-letter topic: a service refused it (attribute `reason`) or Pub/Sub
      gave up after ${local.max_delivery_attempts} deliveries. Inspect with `aiprod dlq list`,
      fix the cause, then `aiprod dlq replay --subscription <name> --all`. Replaying is safe: every
      stage is idempotent. Dead letters are kept 7 days.
    EOT
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "ingest_5xx" {
  display_name = "AIPROD: ingest 5xx responses"
  combiner     = "OR"

  conditions {
    display_name = "aiprod-ingest 5xx per second"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${google_cloud_run_v2_service.ingest.name}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_ingest_5xx_per_second
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = "The API answers 5xx: usually Firestore or Pub/Sub unreachable or denied (see the service's logs, `severity>=ERROR`), or instances crashing."
  }
}

resource "google_monitoring_alert_policy" "router_backlog" {
  display_name = "AIPROD: jobs waiting to be routed"
  combiner     = "OR"

  conditions {
    display_name = "Oldest unacked message of aiprod-router older than 10 minutes"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.main["aiprod-router"].name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = 600
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = "The router is not keeping up with aiprod-jobs, or no router instance runs. Check the aiprod-router service's instances and logs."
  }
}
