# Terraform and provider versions. `terraform init` in this folder installs
# the hashicorp/google provider; see README.md.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.16" # documentation.links, disable_metric_validation (6.16)
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
