output "ingest_url" {
  description = "Base URL of the HTTP API (AIPROD_API of the CLI)."
  value       = google_cloud_run_v2_service.ingest.uri
}

output "topics" {
  description = "Every Pub/Sub topic: the source topics and their dead-letter topics."
  value       = sort(concat(keys(google_pubsub_topic.source), values(local.dead_letter_topics)))
}

output "subscriptions" {
  description = "Every Pub/Sub subscription: subscription => topic."
  value = merge(
    local.subscriptions,
    { for t, dlq in local.dead_letter_topics : dlq => dlq },
    { (google_pubsub_subscription.warehouse.name) = "aiprod-events" },
  )
}

output "warehouse_table" {
  description = "The BigQuery table of every event (infra/README.md, \"Warehouse\"): project.dataset.table."
  value       = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
}

output "service_accounts" {
  description = "Service account email of each service."
  value       = { for k, sa in google_service_account.service : k => sa.email }
}

output "secrets_to_fill" {
  description = "Secret Manager secrets that need a version before the services can start: secret id => what to put in it."
  value = merge(
    { (google_secret_manager_secret.admin_key.secret_id) = "AIPROD_ADMIN_KEY: the admin bearer token" },
    { (google_secret_manager_secret.secrets_key.secret_id) = "AIPROD_SECRETS_KEY: openssl rand -base64 32 (seals the webhook secrets)" },
    { for b, env in local.keyed_backends : google_secret_manager_secret.backend[b].secret_id => "${env}: the ${b} API key" },
  )
}

output "output_bucket" {
  description = "Bucket of the finished videos."
  value       = google_storage_bucket.outputs.name
}
