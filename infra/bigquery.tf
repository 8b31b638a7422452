# The warehouse: every event on aiprod-events lands in the BigQuery table
# aiprod_warehouse.events through a BigQuery subscription, aiprod-warehouse
# (Pub/Sub writes the rows itself: no service of AIPROD reads it). The
# events are the job lifecycle events (dispatch.Lifecycle: one per job
# reaching a terminal status, with its tier and times), the cost ledger's
# entries (budget.LedgerEvent, cost.ledger_entry: one per settled attempt,
# published by the usage roller) and the system events (budget thresholds
# and forecasts, circuit changes, dead letters). README.md "Warehouse" has
# the schema, why it is one JSON column, and example queries.
#
# test/infra_test.go checks that the table's schema is
# bigquery/events_schema.json with the columns write_metadata needs, that
# the subscription writes to this table from aiprod-events and dead-letters
# to aiprod-events-dlq, and that Pub/Sub's service agent holds the grants
# below; and that every JSON path of README.md's queries is a field the
# code's events carry.

locals {
  warehouse_dataset = "aiprod_warehouse"
  warehouse_table   = "events"
}

resource "google_bigquery_dataset" "warehouse" {
  dataset_id  = local.warehouse_dataset
  location    = var.warehouse_location
  description = "AIPROD's events (job lifecycle, cost ledger, system), written by the Pub/Sub subscription aiprod-warehouse."

  # `terraform destroy` fails while the dataset holds tables rather than
  # deleting them with their data.
  delete_contents_on_destroy = false

  depends_on = [google_project_service.api]
}

resource "google_bigquery_table" "events" {
  dataset_id  = google_bigquery_dataset.warehouse.dataset_id
  table_id    = local.warehouse_table
  description = "Every event published to aiprod-events: one row per delivered message (at least once; deduplicate by the event's key, see infra/README.md)."

  schema              = file("${path.module}/bigquery/events_schema.json")
  deletion_protection = var.deletion_protection

  # One partition per day of publish_time, dropped after
  # warehouse_retention_days; every query must bound publish_time, so that
  # none scans the whole history by mistake.
  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = var.warehouse_retention_days > 0 ? var.warehouse_retention_days * 86400000 : null
  }
  require_partition_filter = true

  # BigQuery clusters on scalar columns only; the subscription fills three
  # (subscription_name and message_id are constant and unique). Clustering on
  # publish_time orders each day's rows by time, so a query over the last
  # hours reads those blocks only.
  clustering = ["publish_time"]
}

# Writes each message of aiprod-events as a row: subscription_name,
# message_id, publish_time, data and attributes (write_metadata, without
# use_table_schema: the events differ in shape, see README.md). Copies the
# notifier republishes to keep a webhook's retries going (attribute
# republished) are left out: they repeat an event already written.
resource "google_pubsub_subscription" "warehouse" {
  name                 = "aiprod-warehouse"
  topic                = google_pubsub_topic.source["aiprod-events"].id
  filter               = "NOT attributes:republished"
  ack_deadline_seconds = local.ack_deadline_seconds

  bigquery_config {
    table            = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
    write_metadata   = true
    use_table_schema = false
  }

  # A message BigQuery keeps refusing (such as data that is not JSON) goes
  # to aiprod-events-dlq, whose alert and `aiprod dlq` already exist,
  # instead of holding the subscription back.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["aiprod-events"].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_dataset_iam_member.pubsub_agent_warehouse,
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
  ]
}

# Pub/Sub's service agent writes the rows: it must be able to write to the
# table and read its metadata (https://cloud.google.com/pubsub/docs/bigquery:
# roles/bigquery.dataEditor and roles/bigquery.metadataViewer), granted on
# the dataset only.
resource "google_bigquery_dataset_iam_member" "pubsub_agent_warehouse" {
  for_each = toset(["roles/bigquery.dataEditor", "roles/bigquery.metadataViewer"])

  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = each.key
  member     = local.pubsub_agent
}

# Dead-lettering from aiprod-warehouse: the agent acknowledges there what it
# forwards (it publishes to aiprod-events-dlq with
# pubsub_agent_dead_letter_publisher, iam.tf).
resource "google_pubsub_subscription_iam_member" "pubsub_agent_warehouse" {
  subscription = google_pubsub_subscription.warehouse.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
