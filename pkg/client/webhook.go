package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/webhook"
)

// The types of job webhooks: one per terminal status.
const (
	WebhookJobSucceeded = "job.succeeded"
	WebhookJobFailed    = "job.failed"
	WebhookJobCanceled  = "job.canceled"
)

// WebhookEvent is the body of a job webhook (DESIGN.md "Notifications"):
// the event type, when the job reached its terminal status, and the job as
// GET /v1/jobs/{id} shows it.
type WebhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Job       `json:"data"`
}

// VerifyWebhook checks a job webhook received with the project's signing
// secret ("whsec_...", from POST /v1/admin/projects/{project}/webhook-secret)
// and decodes it. body must be the request body exactly as received, h the
// request's headers. It refuses a webhook whose signature matches no
// secret, or whose timestamp is more than webhook.ToleranceDefault (5 min)
// away from now (a replay). Deduplicate on the webhook-id header: retries
// of one event carry the same id.
func VerifyWebhook(secret string, h http.Header, body []byte) (WebhookEvent, error) {
	if err := webhook.Verify(secret, h, body); err != nil {
		return WebhookEvent{}, err
	}
	var ev WebhookEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return WebhookEvent{}, fmt.Errorf("decode webhook %s: %w", h.Get(webhook.HeaderID), err)
	}
	return ev, nil
}
