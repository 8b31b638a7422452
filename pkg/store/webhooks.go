package store

import "time"

// WebhookSecret is a project's webhook signing secrets as stored
// (webhook_secrets/{project} in Firestore): sealed by package secretbox,
// never in clear. Current signs every webhook; Previous, the secret
// Current replaced, signs too until PreviousUntil (the rotation overlap).
type WebhookSecret struct {
	ProjectID     string    `json:"project_id"`
	Current       string    `json:"current"`            // sealed
	Previous      string    `json:"previous,omitempty"` // sealed; "" when none
	PreviousUntil time.Time `json:"previous_until,omitzero"`
	RotatedAt     time.Time `json:"rotated_at"` // when Current was made
}

// WebhookOutcome is where a webhook delivery stands.
type WebhookOutcome string

// The outcomes of a delivery: pending until an attempt succeeds (delivered),
// the receiver answers 410 Gone (gone) or the retries run out (failed).
const (
	WebhookPending   WebhookOutcome = "pending"
	WebhookDelivered WebhookOutcome = "delivered"
	WebhookGone      WebhookOutcome = "gone"
	WebhookFailed    WebhookOutcome = "failed"
)

// Final reports whether no attempt follows.
func (o WebhookOutcome) Final() bool {
	return o == WebhookDelivered || o == WebhookGone || o == WebhookFailed
}

// WebhookDelivery is the delivery state of one webhook event, by its
// webhook-id (webhook_deliveries/{id} in Firestore): it survives restarts
// of the notifier, so retries keep their schedule and a delivered event is
// not delivered again by a redelivered message.
type WebhookDelivery struct {
	ID        string `json:"id"` // the webhook-id
	JobID     string `json:"job_id"`
	ProjectID string `json:"project_id"`
	EventType string `json:"event_type"` // job.succeeded, job.failed, job.canceled
	// Attempts counts the attempts started (claimed), FirstAttemptAt is
	// when the first one was, NextAttemptAt when the next one is due.
	Attempts       int       `json:"attempts"`
	FirstAttemptAt time.Time `json:"first_attempt_at"`
	NextAttemptAt  time.Time `json:"next_attempt_at"`
	// LeaseUntil: an attempt is in progress until then (zero: none). Past
	// it, a notifier that died during its attempt is presumed gone and
	// the attempt may be made again.
	LeaseUntil time.Time      `json:"lease_until,omitzero"`
	Outcome    WebhookOutcome `json:"outcome"`
	LastStatus int            `json:"last_status,omitempty"` // the receiver's last HTTP status; 0: no answer
	LastError  string         `json:"last_error,omitempty"`  // why the last attempt failed, without secrets
	UpdatedAt  time.Time      `json:"updated_at"`
}

// WebhookTx is the part of a transaction that reads and writes webhook
// secrets and delivery states. Tx embeds it.
type WebhookTx interface {
	// GetWebhookSecret reads a project's secrets; errclass.NotFound when
	// it has none.
	GetWebhookSecret(projectID string) (WebhookSecret, error)
	// PutWebhookSecret writes a project's secrets (its times normalised).
	PutWebhookSecret(s WebhookSecret) error
	// GetWebhookDelivery reads a delivery state by webhook-id;
	// errclass.NotFound when absent.
	GetWebhookDelivery(id string) (WebhookDelivery, error)
	// PutWebhookDelivery writes a delivery state (its times normalised).
	PutWebhookDelivery(d WebhookDelivery) error
}

// NormWebhookSecret returns s with its times as a store keeps them.
func NormWebhookSecret(s WebhookSecret) WebhookSecret {
	s.PreviousUntil, s.RotatedAt = NormalizeTime(s.PreviousUntil), NormalizeTime(s.RotatedAt)
	return s
}

// NormWebhookDelivery returns d with its times as a store keeps them.
func NormWebhookDelivery(d WebhookDelivery) WebhookDelivery {
	d.FirstAttemptAt, d.NextAttemptAt = NormalizeTime(d.FirstAttemptAt), NormalizeTime(d.NextAttemptAt)
	d.LeaseUntil, d.UpdatedAt = NormalizeTime(d.LeaseUntil), NormalizeTime(d.UpdatedAt)
	return d
}
