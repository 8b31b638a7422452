// Package webhooksecrets keeps each project's webhook signing secrets
// (DESIGN.md "Notifications"): the API rotates them, the notifier signs
// with them.
//
// # Rules
//
//   - A project has one current secret, and, for Overlap (24 h) after a
//     rotation, the previous one: every webhook sent in that window carries
//     two signatures (current first), so receivers can switch secrets
//     without losing a delivery. Rotating again within the window drops the
//     older previous secret.
//   - Rotate returns the new secret once (POST
//     /v1/admin/projects/{project}/webhook-secret); it cannot be read back
//     through the API. A receiver that lost it rotates again.
//   - A project that has never rotated gets a secret the first time a
//     webhook is signed for it (Signing creates it, in a transaction, so
//     concurrent notifiers agree on one). Nobody has seen that secret, so
//     its webhooks verify nowhere until the project rotates: rotate before
//     submitting jobs with a webhook_url.
//   - Secrets are stored sealed with AES-256-GCM (package secretbox) under
//     the key of AIPROD_SECRETS_KEY, bound to the project id. They never
//     appear in logs, errors or spans.
package webhooksecrets
