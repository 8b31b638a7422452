# Pub/Sub: exactly queue.Topology(backends) of pkg/queue/queue.go, which is
# also what queue.Provision creates against the emulator.
#
#   aiprod-jobs            -> aiprod-router          (router)
#   aiprod-events          -> aiprod-notifier        (notifier: job webhooks of lifecycle events)
#   aiprod-events          -> aiprod-alerts          (notifier: operator alerts — budget, circuits, dead letters, failed jobs)
#   aiprod-dlq-replay      -> aiprod-dlq-replay      (router: dead-letter replay requests of the admin API)
#   aiprod-dispatch-<b>    -> aiprod-worker-<b>      (one per backend: worker)
#
# Every subscription has the dead-letter topic <topic>-dlq
# (queue.DeadLetterTopic), MaxDeliveryAttemptsDefault delivery attempts and a
# retry policy MinBackoffDefault..MaxBackoffDefault (a worker subscription
# that pushes: worker.PushAckDeadline and worker.PushMaxDeliveryAttempts
# instead of queue's ack deadline and attempts); every dead-letter topic
# has a subscription of the same name, without retry or dead-letter policy,
# read by `aiprod dlq` and the admin DLQ routes (package deadletter).
#
# test/infra_test.go evaluates these names and settings and compares them with
# queue.Topology: change both together.

locals {
  # Subscription => the topic it reads.
  subscriptions = merge(
    {
      "aiprod-router"     = "aiprod-jobs"       # queue.SubscriptionRouter, queue.TopicJobs
      "aiprod-notifier"   = "aiprod-events"     # queue.SubscriptionEvents, queue.TopicEvents
      "aiprod-alerts"     = "aiprod-events"     # queue.SubscriptionAlerts: operator alerts (notifier)
      "aiprod-dlq-replay" = "aiprod-dlq-replay" # queue.SubscriptionDLQReplay, queue.TopicDLQReplay
    },
    # queue.WorkerSubscription(b), queue.DispatchTopic(b)
    { for b in var.backends : "aiprod-worker-${b}" => "aiprod-dispatch-${b}" },
  )

  # Subscription => its filter (queue.FilterLifecycle, queue.FilterNotLedger):
  # the notifier's webhooks read job lifecycle events only (no event_type
  # attribute), its alerts every event but the cost ledger's entries, which
  # are for the warehouse (bigquery.tf). Pub/Sub fixes a filter when the
  # subscription is created: changing one replaces the subscription.
  subscription_filters = {
    "aiprod-notifier" = "NOT attributes:event_type"
    "aiprod-alerts"   = "NOT attributes.event_type = \"cost.ledger_entry\""
  }

  source_topics = toset(values(local.subscriptions))

  # Source topic => its dead-letter topic (queue.DeadLetterTopic).
  dead_letter_topics = { for t in local.source_topics : t => "${t}-dlq" }

  # queue.AckDeadlineDefault, MaxDeliveryAttemptsDefault, MinBackoffDefault,
  # MaxBackoffDefault. (AIPROD_ACK_DEADLINE only changes what the services
  # provision themselves, which they do not do here: AIPROD_PROVISION=false.)
  ack_deadline_seconds  = 60
  max_delivery_attempts = 10
  min_backoff           = "1s"
  max_backoff           = "60s"

  # A worker subscription that pushes (var.worker_push) waits up to Pub/Sub's
  # maximum for each push's answer (worker.PushAckDeadline), so that a push
  # step may hold one generation for up to worker.PushStepBudget (run.tf);
  # and dead-letters after Pub/Sub's maximum of deliveries
  # (worker.PushMaxDeliveryAttempts): a backlog behind a busy backend is
  # refused at Cloud Run's door (429) without reaching the worker, and each
  # refusal spends a delivery attempt.
  push_ack_deadline_seconds  = 600
  push_max_delivery_attempts = 100
  pushed_subscriptions       = [for b in keys(local.worker_push) : "aiprod-worker-${b}"]
}

resource "google_pubsub_topic" "source" {
  for_each = local.source_topics

  name = each.key

  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.dead_letter_topics

  name = each.value

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "main" {
  for_each = local.subscriptions

  name                 = each.key
  topic                = google_pubsub_topic.source[each.value].id
  ack_deadline_seconds = contains(local.pushed_subscriptions, each.key) ? local.push_ack_deadline_seconds : local.ack_deadline_seconds
  filter               = lookup(local.subscription_filters, each.key, "")

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value].id
    max_delivery_attempts = contains(local.pushed_subscriptions, each.key) ? local.push_max_delivery_attempts : local.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = local.min_backoff
    maximum_backoff = local.max_backoff
  }

  # var.worker_push: a worker subscription pushes to its worker service,
  # each request with an OIDC token of the push account for the worker's
  # audience (run.tf), which the worker verifies (AIPROD_PUSH_AUDIENCE,
  # AIPROD_PUSH_SERVICE_ACCOUNT). Without it, the subscription is pulled.
  dynamic "push_config" {
    for_each = { for b, p in local.worker_push : b => p if "aiprod-worker-${b}" == each.key }
    content {
      push_endpoint = push_config.value.endpoint

      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = push_config.value.audience
      }
    }
  }

  # Never delete an idle subscription (the default deletes it after 31 days
  # without a subscriber, and its messages with it).
  expiration_policy {
    ttl = ""
  }

  # Pub/Sub forwards to the dead-letter topic, and signs push tokens as the
  # push account, only with these grants (iam.tf).
  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
    google_service_account_iam_member.pubsub_agent_push_token_creator,
  ]
}

# The subscription of each dead-letter topic, named like the topic. No retry
# policy (a listed-then-released message is back at once) and no dead-letter
# policy of its own: it never drops or forwards a message however often it is
# listed (see package deadletter).
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.dead_letter_topics

  name                 = each.value
  topic                = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds = local.ack_deadline_seconds

  # Keep dead letters as long as Pub/Sub allows (7 days).
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}
