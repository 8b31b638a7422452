# The Google APIs AIPROD uses. disable_on_destroy = false: destroying this
# configuration must not switch off APIs that other things in the project use.
resource "google_project_service" "api" {
  for_each = toset([
    "aiplatform.googleapis.com",    # Veo on Vertex AI (worker)
    "bigquery.googleapis.com",      # the warehouse (bigquery.tf)
    "cloudtrace.googleapis.com",    # spans, through an OTLP collector
    "firestore.googleapis.com",     # jobs, budgets, keys, backend health
    "iam.googleapis.com",           # service accounts
    "logging.googleapis.com",       # JSON logs of every service
    "monitoring.googleapis.com",    # alert policies
    "pubsub.googleapis.com",        # the queue topology
    "run.googleapis.com",           # the services
    "secretmanager.googleapis.com", # provider API keys, admin key
    "storage.googleapis.com",       # output bucket
  ])

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}
