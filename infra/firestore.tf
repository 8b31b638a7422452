# Firestore: the (default) Native-mode database that pkg/store/firestorestore
# uses, its composite indexes and its field overrides, translated one by one
# from pkg/store/firestorestore/indexes.json (the file `firebase deploy
# --only firestore:indexes` would read). test/infra_test.go compares the two:
# change both together.

resource "google_firestore_database" "default" {
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  # The store's read-write transactions (budget reservations, job
  # transitions) are written for Native mode's default pessimistic locking.
  concurrency_mode            = "PESSIMISTIC"
  app_engine_integration_mode = "DISABLED"
  delete_protection_state     = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Point-in-time recovery: the jobs, the cost ledger and the keys can be
  # read as of any minute of the last 7 days (a bad deploy or a deleted
  # document is recoverable).
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  # ABANDON: `terraform destroy` forgets the database but never deletes the
  # jobs, ledger and keys in it.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.api]
}

# ---- Composite indexes (indexes.json "indexes") ----------------------------

# GET /v1/jobs: a project's jobs, newest first.
resource "google_firestore_index" "jobs_by_project" {
  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "project_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

# GET /v1/jobs?status=: a project's jobs of one status, newest first.
resource "google_firestore_index" "jobs_by_project_status" {
  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "project_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

# Job search (GET /v1/jobs and GET /v1/admin/jobs filters): one index per
# equality filter, all ending created_at DESC, __name__ DESC. Firestore
# merges them (with jobs_by_project) for any combination of filters, with or
# without a created_at range, so the combinations need no index each.
resource "google_firestore_index" "jobs_by_filter" {
  for_each = toset(["status", "backend", "error_code", "user_id"])

  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  # each.key ASC, then newest first: created_at DESC, __name__ DESC.
  dynamic "fields" {
    for_each = [each.key, "created_at", "__name__"]
    content {
      field_path = fields.value
      order      = fields.key == 0 ? "ASCENDING" : "DESCENDING"
    }
  }
}

# The sweeper: jobs of a status not updated since a time.
resource "google_firestore_index" "jobs_by_status_updated" {
  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
}

# The sweeper, per backend: dispatched jobs of one backend not updated since
# a time (a backend's backlog does not fill the page of the others).
resource "google_firestore_index" "jobs_by_status_backend_updated" {
  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "backend"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
}

# Usage and reconciliation: a project's ledger entries in a time range.
resource "google_firestore_index" "ledger_by_project_at" {
  database    = google_firestore_database.default.name
  collection  = "ledger"
  query_scope = "COLLECTION"

  fields {
    field_path = "project_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
}

# The same within one budget period (yyyy-mm).
resource "google_firestore_index" "ledger_by_project_period_at" {
  database    = google_firestore_database.default.name
  collection  = "ledger"
  query_scope = "COLLECTION"

  fields {
    field_path = "project_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "period"
    order      = "ASCENDING"
  }
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
}

# ---- Field overrides (indexes.json "fieldOverrides") -----------------------

# TTL policies: jobs and their events carry expire_at = time + 90 days
# (firestorestore.Retention, docs.go). Firestore deletes a document within
# about a day after its expire_at. index_config {} turns off the field's
# single-field indexes, which nothing queries.
resource "google_firestore_field" "jobs_expire_at" {
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

resource "google_firestore_field" "events_expire_at" {
  database   = google_firestore_database.default.name
  collection = "events" # the jobs/{id}/events subcollections (a collection group)
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# Outcomes of dead-letter replays (dlqreplays/{request id}) carry
# expire_at = created_at + firestorestore.ReplayRetention (7 days).
resource "google_firestore_field" "dlqreplays_expire_at" {
  database   = google_firestore_database.default.name
  collection = "dlqreplays"
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# The notifier's webhook delivery states: expire_at = first attempt + 90 days.
resource "google_firestore_field" "webhook_deliveries_expire_at" {
  database   = google_firestore_database.default.name
  collection = "webhook_deliveries"
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# Large nested values nothing filters on: no single-field indexes (cheaper
# writes, and the 40,000 index entries per document limit stays far away).
resource "google_firestore_field" "jobs_request" {
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "request"

  index_config {}
}

resource "google_firestore_field" "jobs_attempts" {
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "attempts"

  index_config {}
}

resource "google_firestore_field" "jobs_result" {
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "result"

  index_config {}
}

resource "google_firestore_field" "jobs_error" {
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "error"

  index_config {}
}

resource "google_firestore_field" "events_message" {
  database   = google_firestore_database.default.name
  collection = "events"
  field      = "message"

  index_config {}
}

# A backend's slot table (backends/{name}/slots/all: every concurrency slot
# and the fair share's waiting marks, read whole by its id): up to 1,000
# slots and 4,096 marks, which would otherwise make about 9,000 index
# entries on every write of a document written several times a second.
resource "google_firestore_field" "slots_slots" {
  database   = google_firestore_database.default.name
  collection = "slots"
  field      = "slots"

  index_config {}
}

resource "google_firestore_field" "slots_waiting" {
  database   = google_firestore_database.default.name
  collection = "slots"
  field      = "waiting"

  index_config {}
}

# What the routers learned of each backend (backend_stats/{name}, read whole
# by the routers every 30 s and written by the usage roller once a minute):
# up to 128 job shapes of about 40 numbers each, which nothing queries.
resource "google_firestore_field" "backend_stats_cells" {
  database   = google_firestore_database.default.name
  collection = "backend_stats"
  field      = "cells"

  index_config {}
}

# The same documents' recent windows (anomaly detection: 12 hours of
# 5-minute counts) and the anomalies in progress, which nothing queries.
resource "google_firestore_field" "backend_stats_windows" {
  database   = google_firestore_database.default.name
  collection = "backend_stats"
  field      = "windows"

  index_config {}
}

resource "google_firestore_field" "backend_stats_anomalies" {
  database   = google_firestore_database.default.name
  collection = "backend_stats"
  field      = "anomalies"

  index_config {}
}
