# The AIPROD dashboard: one Cloud Monitoring dashboard, PromQL charts in a
# two-column grid. Metric names as in monitoring.tf (test/infra_test.go
# checks them against metrics.Names, and the backlog and dead-letter charts
# against queue.Topology).

locals {
  # One chart per entry: title, y-axis label, PromQL queries (one line set
  # each), plot type, optional threshold lines.
  dashboard_charts = [
    {
      title = "Jobs finished per minute, by status (and accepted)"
      unit  = "jobs/min"
      plot  = "LINE"
      queries = [
        "sum by (status) (rate(workload_googleapis_com:aiprod_jobs_completed[5m])) * 60",
        "sum(rate(workload_googleapis_com:aiprod_jobs_accepted[5m])) * 60",
      ]
      thresholds = []
    },
    {
      title = "Job failure ratio: failed / (succeeded + failed)"
      unit  = "ratio"
      plot  = "LINE"
      queries = [
        "sum(rate(workload_googleapis_com:aiprod_jobs_completed{status=\"failed\"}[10m])) / sum(rate(workload_googleapis_com:aiprod_jobs_completed{status=~\"succeeded|failed\"}[10m]))",
      ]
      thresholds = [{ value = var.alert_job_failure_ratio, label = "alert" }]
    },
    {
      title = "Cost by backend (USD over the last hour)"
      unit  = "USD"
      plot  = "STACKED_AREA"
      queries = [
        "sum by (backend) (increase(workload_googleapis_com:aiprod_cost_usd[1h]))",
      ]
      thresholds = []
    },
    {
      title = "Job latency, acceptance to terminal status: p50 and p95 by backend"
      unit  = "seconds"
      plot  = "LINE"
      queries = [
        "histogram_quantile(0.5, sum by (le, backend) (rate(workload_googleapis_com:aiprod_job_duration_seconds_bucket[15m])))",
        "histogram_quantile(0.95, sum by (le, backend) (rate(workload_googleapis_com:aiprod_job_duration_seconds_bucket[15m])))",
      ]
      thresholds = []
    },
    {
      title = "Backend circuits (0 closed, 1 half-open, 2 open)"
      unit  = "state"
      plot  = "LINE"
      queries = [
        "max by (backend) (workload_googleapis_com:aiprod_backend_circuit_state)",
      ]
      thresholds = [{ value = 2, label = "open" }]
    },
    {
      title = "Provider API calls per minute, by backend and outcome"
      unit  = "calls/min"
      plot  = "STACKED_AREA"
      queries = [
        "sum by (backend, outcome) (rate(workload_googleapis_com:aiprod_backend_requests[5m])) * 60",
      ]
      thresholds = []
    },
    {
      title = "Backlog: oldest unacked message, router and workers"
      unit  = "seconds"
      plot  = "LINE"
      queries = [
        "max by (subscription_id) (pubsub_googleapis_com:subscription_oldest_unacked_message_age{monitored_resource=\"pubsub_subscription\", subscription_id=~\"${local.router_subscriptions_re}|${local.worker_subscriptions_re}\"})",
      ]
      thresholds = [{ value = var.alert_router_backlog_seconds, label = "router alert" }, { value = var.alert_worker_backlog_seconds, label = "worker alert" }]
    },
    {
      title = "Dead letters: undelivered messages per dead-letter subscription"
      unit  = "messages"
      plot  = "STACKED_BAR"
      queries = [
        "max by (subscription_id) (pubsub_googleapis_com:subscription_num_undelivered_messages{monitored_resource=\"pubsub_subscription\", subscription_id=~\"${local.dead_letter_subscriptions_re}\"})",
      ]
      thresholds = []
    },
    {
      title = "API latency p95 by route (ingest)"
      unit  = "seconds"
      plot  = "LINE"
      queries = [
        "histogram_quantile(0.95, sum by (le, http_route) (rate(workload_googleapis_com:http_server_request_duration_bucket[5m])))",
      ]
      thresholds = [{ value = 0.2, label = "SLO" }]
    },
    {
      title = "Budget used by project: (spent + reserved) / limit"
      unit  = "ratio"
      plot  = "LINE"
      queries = [
        local.budget_used_ratio,
      ]
      thresholds = [{ value = var.alert_budget_warning_ratio, label = "warning" }, { value = 1, label = "exhausted" }]
    },
  ]
}

resource "google_monitoring_dashboard" "aiprod" {
  dashboard_json = jsonencode({
    displayName = "AIPROD"
    mosaicLayout = {
      columns = 48
      tiles = [
        for i, c in local.dashboard_charts : {
          xPos   = (i % 2) * 24
          yPos   = floor(i / 2) * 16
          width  = 24
          height = 16
          widget = {
            title = c.title
            xyChart = {
              dataSets = [
                for q in c.queries : {
                  timeSeriesQuery = { prometheusQuery = q }
                  plotType        = c.plot
                  targetAxis      = "Y1"
                }
              ]
              thresholds = [
                for th in c.thresholds : {
                  label      = th.label
                  value      = th.value
                  color      = "RED"
                  direction  = "ABOVE"
                  targetAxis = "Y1"
                }
              ]
              yAxis = { label = c.unit, scale = "LINEAR" }
            }
          }
        }
      ]
    }
  })

  depends_on = [google_project_service.api]
}
