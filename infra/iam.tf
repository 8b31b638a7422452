# Identities and least-privilege grants. Every service runs as its own
# service account; each grant below names the code that needs it.
#
#   ingest         publishes new jobs (aiprod-jobs), lifecycle/budget events
#                  (aiprod-events) and requests to replay dead letters
#                  (aiprod-dlq-replay, POST /v1/admin/dlq/replay); GET
#                  /v1/admin/dlq pulls (and releases) the dead-letter
#                  subscriptions; /readyz reads aiprod-jobs's metadata. It
#                  publishes to no dispatch topic: the internet-facing service
#                  cannot inject work for the workers.
#   router         pulls aiprod-router; publishes dispatches (every
#                  aiprod-dispatch-<b>), lifecycle/budget events, and, from the
#                  sweeper, re-routes (aiprod-jobs); dead-letters refused
#                  requests to aiprod-jobs-dlq. It also pulls aiprod-dlq-replay
#                  and carries out those requests (deadletter.Replayer): pulls
#                  the dead-letter subscription named, republishes each letter
#                  to the topic it came from (any source topic,
#                  deadletter.OriginTopic), acks it; refused requests go to
#                  aiprod-dlq-replay-dlq.
#   worker-<b>     pulls aiprod-worker-<b>; publishes re-routes (aiprod-jobs),
#                  lifecycle/budget events, its own dispatches again
#                  (Worker.republish) and refused ones to aiprod-dispatch-<b>-dlq;
#                  reads its backend's API key, or calls Vertex AI for Veo;
#                  writes videos to the output bucket.
#   notifier       pulls aiprod-notifier; republishes waiting events to
#                  aiprod-events (a webhook waiting for its retries) and
#                  dead-letters refused ones to aiprod-events-dlq; reads the
#                  secrets key (AIPROD_SECRETS_KEY) that opens the projects'
#                  webhook secrets; sends webhooks to the internet.
#
#   push           (var.worker_push) the identity of the OIDC tokens Pub/Sub
#                  sends with each push to a worker: roles/run.invoker on the
#                  worker services, nothing else.
#
# All of them read and write Firestore (roles/datastore.user: Firestore IAM is
# per project) and send logs, metrics and traces.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Service key => service account id (also the Cloud Run service name).
  service_accounts = merge(
    {
      ingest   = "aiprod-ingest"
      router   = "aiprod-router"
      notifier = "aiprod-notifier"
    },
    { for b in var.backends : "worker-${b}" => "aiprod-worker-${b}" },
  )

  project_roles = [
    "roles/datastore.user",
    "roles/cloudtrace.agent",
    "roles/monitoring.metricWriter",
    "roles/logging.logWriter",
  ]

  # Topics each service publishes to, as keys of google_pubsub_topic.source
  # ("source") or google_pubsub_topic.dead_letter ("dead_letter": the key is
  # the source topic).
  publishes = merge(
    {
      ingest = { source = ["aiprod-jobs", "aiprod-events", "aiprod-dlq-replay"], dead_letter = [] }
      router = {
        source      = local.source_topics # jobs, events, every dispatch topic, replays of aiprod-dlq-replay-dlq
        dead_letter = ["aiprod-jobs", "aiprod-dlq-replay"]
      }
      notifier = { source = ["aiprod-events"], dead_letter = ["aiprod-events"] }
    },
    {
      for b in var.backends : "worker-${b}" => {
        source      = ["aiprod-jobs", "aiprod-events", "aiprod-dispatch-${b}"]
        dead_letter = ["aiprod-dispatch-${b}"]
      }
    },
  )

  topic_publishers = {
    for pair in flatten([
      for svc, p in local.publishes : [for t in p.source : { svc = svc, topic = t }]
    ]) : "${pair.svc} ${pair.topic}" => pair
  }
  dead_letter_publishers = {
    for pair in flatten([
      for svc, p in local.publishes : [for t in p.dead_letter : { svc = svc, topic = t }]
    ]) : "${pair.svc} ${pair.topic}" => pair
  }

  # Subscriptions each service pulls: main ones (pushed worker subscriptions
  # are not pulled), and (ingest to list, router to replay) the dead-letter
  # subscriptions, keyed by source topic.
  main_subscribers = merge(
    { "router aiprod-router" = { svc = "router", subscription = "aiprod-router" } },
    { "router aiprod-dlq-replay" = { svc = "router", subscription = "aiprod-dlq-replay" } },
    {
      for b in var.backends : "worker-${b} aiprod-worker-${b}" => { svc = "worker-${b}", subscription = "aiprod-worker-${b}" }
      if !var.worker_push
    },
    { "notifier aiprod-notifier" = { svc = "notifier", subscription = "aiprod-notifier" } },
    { "notifier aiprod-alerts" = { svc = "notifier", subscription = "aiprod-alerts" } },
  )

  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_service_account" "service" {
  for_each = local.service_accounts

  account_id   = each.value
  display_name = "AIPROD ${each.key}"
  description  = "Runs the Cloud Run service ${each.value}."

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "service" {
  for_each = {
    for pair in setproduct(keys(local.service_accounts), local.project_roles) :
    "${pair[0]} ${pair[1]}" => { svc = pair[0], role = pair[1] }
  }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.service[each.value.svc].email}"
}

# Veo (backends without an API key, see backend_credentials) runs on Vertex AI
# as the worker's service account.
resource "google_project_iam_member" "worker_vertex" {
  for_each = toset(local.vertex_backends)

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = "serviceAccount:${google_service_account.service["worker-${each.key}"].email}"
}

# ---- Pub/Sub ---------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_publishers

  topic  = google_pubsub_topic.source[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.service[each.value.svc].email}"
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_publishers

  topic  = google_pubsub_topic.dead_letter[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.service[each.value.svc].email}"
}

# GET /readyz (ingest) checks that aiprod-jobs exists (platform.Ready,
# gcppubsub CheckTopic): pubsub.topics.get, which roles/pubsub.publisher
# lacks.
resource "google_pubsub_topic_iam_member" "ingest_ready" {
  topic  = google_pubsub_topic.source["aiprod-jobs"].id
  role   = "roles/pubsub.viewer"
  member = "serviceAccount:${google_service_account.service["ingest"].email}"
}

resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each = local.main_subscribers

  subscription = google_pubsub_subscription.main[each.value.subscription].id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.service[each.value.svc].email}"
}

# GET /v1/admin/dlq (ingest) pulls and releases dead letters.
resource "google_pubsub_subscription_iam_member" "ingest_dead_letters" {
  for_each = google_pubsub_subscription.dead_letter

  subscription = each.value.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.service["ingest"].email}"
}

# The router replays dead letters (aiprod-dlq-replay requests): it pulls
# them and acks each one once republished.
resource "google_pubsub_subscription_iam_member" "router_dead_letters" {
  for_each = google_pubsub_subscription.dead_letter

  subscription = each.value.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.service["router"].email}"
}

# Dead-lettering by Pub/Sub itself: its service agent must be able to publish
# to each dead-letter topic and to acknowledge on each source subscription.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  for_each = google_pubsub_topic.dead_letter

  topic  = each.value.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscriber" {
  for_each = google_pubsub_subscription.main

  subscription = each.value.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# ---- Push delivery (var.worker_push) -------------------------------------------

# The identity of the OIDC tokens of pushes to the workers (pubsub.tf
# push_config.oidc_token). Created either way; without var.worker_push it has
# no grant.
resource "google_service_account" "push" {
  account_id   = "aiprod-push"
  display_name = "AIPROD Pub/Sub push"
  description  = "Signs (through Pub/Sub) the OIDC tokens of pushes to the aiprod-worker-<backend> services."

  depends_on = [google_project_service.api]
}

# Cloud Run admits a push only with a token of an invoker of the service.
resource "google_cloud_run_v2_service_iam_member" "worker_push_invoker" {
  for_each = toset(keys(local.worker_push))

  project  = var.project_id
  location = google_cloud_run_v2_service.worker[each.key].location
  name     = google_cloud_run_v2_service.worker[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# Pub/Sub's service agent mints the tokens as the push account.
resource "google_service_account_iam_member" "pubsub_agent_push_token_creator" {
  for_each = var.worker_push ? toset(["push"]) : toset([])

  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# ---- Secret Manager ----------------------------------------------------------

# One secret per keyed backend, readable only by that backend's worker. The
# values are added outside Terraform (README.md) so keys never enter the state.
resource "google_secret_manager_secret" "backend" {
  for_each = local.keyed_backends

  secret_id = "aiprod-${each.key}-api-key"
  labels    = { aiprod-backend = each.key }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "worker_backend_key" {
  for_each = local.keyed_backends

  secret_id = google_secret_manager_secret.backend[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["worker-${each.key}"].email}"
}

# AIPROD_ADMIN_KEY of ingest: the bearer token of /v1/admin/*.
resource "google_secret_manager_secret" "admin_key" {
  secret_id = "aiprod-admin-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "ingest_admin_key" {
  secret_id = google_secret_manager_secret.admin_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["ingest"].email}"
}

# AIPROD_SECRETS_KEY of ingest (which seals a rotated webhook secret) and the
# notifier (which opens it to sign): the base64 of 32 random bytes. Changing
# it makes every stored webhook secret unreadable (rotate them all after).
resource "google_secret_manager_secret" "secrets_key" {
  secret_id = "aiprod-secrets-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "secrets_key" {
  for_each = toset(["ingest", "notifier"])

  secret_id = google_secret_manager_secret.secrets_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service[each.key].email}"
}

# ---- Cloud Storage -----------------------------------------------------------

# Workers copy finished videos into the bucket and delete short writes
# (package output: objects get, create, delete); Veo writes its outputs there.
resource "google_storage_bucket_iam_member" "worker_outputs" {
  for_each = toset(var.backends)

  bucket = google_storage_bucket.outputs.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.service["worker-${each.key}"].email}"
}

# ---- Cloud Run ---------------------------------------------------------------

# Who may call the API: everyone (it checks API keys itself) or the listed
# members. The router has no invokers; the workers none but, with
# var.worker_push, the push account (worker_push_invoker).
resource "google_cloud_run_v2_service_iam_member" "ingest_invoker" {
  for_each = toset(var.ingest_public ? ["allUsers"] : var.ingest_invokers)

  project  = var.project_id
  location = google_cloud_run_v2_service.ingest.location
  name     = google_cloud_run_v2_service.ingest.name
  role     = "roles/run.invoker"
  member   = each.key
}
