# The output bucket: the worker copies every finished video here
# (AIPROD_OUTPUT_BUCKET, package output) because provider URLs expire, and Veo
# writes its videos under gs://<bucket>/veo (AIPROD_VEO_STORAGE_URI), which the
# copier then records as they are. Objects are private: a job's video_url is a
# gs:// URL that readers need IAM (or a signed URL) to fetch.

locals {
  output_bucket = var.output_bucket != "" ? var.output_bucket : "${var.project_id}-aiprod-outputs"
}

resource "google_storage_bucket" "outputs" {
  name     = local.output_bucket
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  dynamic "lifecycle_rule" {
    for_each = var.output_retention_days > 0 ? [var.output_retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.api]
}
