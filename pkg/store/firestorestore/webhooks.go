package firestorestore

import (
	"time"

	"cloud.google.com/go/firestore"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// The notifier's collections: webhook_secrets/{project} (sealed secrets)
// and webhook_deliveries/{webhook-id} (delivery states, with expire_at for
// a TTL policy, first_attempt_at + Retention).
const (
	webhookSecretsCollection    = "webhook_secrets"
	webhookDeliveriesCollection = "webhook_deliveries"
)

// webhookSecretDoc is webhook_secrets/{project}.
type webhookSecretDoc struct {
	Current       string    `firestore:"current"`
	Previous      string    `firestore:"previous"`
	PreviousUntil time.Time `firestore:"previous_until"`
	RotatedAt     time.Time `firestore:"rotated_at"`
}

// webhookDeliveryDoc is webhook_deliveries/{id}.
type webhookDeliveryDoc struct {
	JobID          string    `firestore:"job_id"`
	ProjectID      string    `firestore:"project_id"`
	EventType      string    `firestore:"event_type"`
	Attempts       int       `firestore:"attempts"`
	FirstAttemptAt time.Time `firestore:"first_attempt_at"`
	NextAttemptAt  time.Time `firestore:"next_attempt_at"`
	LeaseUntil     time.Time `firestore:"lease_until"`
	Outcome        string    `firestore:"outcome"`
	LastStatus     int       `firestore:"last_status"`
	LastError      string    `firestore:"last_error"`
	UpdatedAt      time.Time `firestore:"updated_at"`
	ExpireAt       time.Time `firestore:"expire_at"`
}

// getDoc reads one document into d in the transaction; false when absent.
func (t *tx) getDoc(ref *firestore.DocumentRef, d any, what string) (bool, error) {
	snaps, err := t.ft.GetAll([]*firestore.DocumentRef{ref})
	if err != nil {
		return false, classify(err, "get %s", what)
	}
	if !snaps[0].Exists() {
		return false, nil
	}
	if err := snaps[0].DataTo(d); err != nil {
		return false, classify(err, "decode %s", what)
	}
	return true, nil
}

func (t *tx) GetWebhookSecret(projectID string) (store.WebhookSecret, error) {
	if err := t.checkRead(); err != nil {
		return store.WebhookSecret{}, err
	}
	notFound := errclass.New(errclass.NotFound, "webhook secret of project %s not found", projectID)
	if !validID(projectID) {
		return store.WebhookSecret{}, notFound
	}
	var d webhookSecretDoc
	ok, err := t.getDoc(t.s.c.Collection(webhookSecretsCollection).Doc(projectID), &d, "webhook secret of project "+projectID)
	switch {
	case err != nil:
		return store.WebhookSecret{}, err
	case !ok:
		return store.WebhookSecret{}, notFound
	}
	return store.NormWebhookSecret(store.WebhookSecret{ProjectID: projectID, Current: d.Current, Previous: d.Previous,
		PreviousUntil: d.PreviousUntil, RotatedAt: d.RotatedAt}), nil
}

func (t *tx) PutWebhookSecret(s store.WebhookSecret) error {
	if err := t.checkWrite("project", s.ProjectID); err != nil {
		return err
	}
	s = store.NormWebhookSecret(s)
	t.set(t.s.c.Collection(webhookSecretsCollection).Doc(s.ProjectID), webhookSecretDoc{
		Current: s.Current, Previous: s.Previous, PreviousUntil: s.PreviousUntil, RotatedAt: s.RotatedAt})
	return nil
}

func (t *tx) GetWebhookDelivery(id string) (store.WebhookDelivery, error) {
	if err := t.checkRead(); err != nil {
		return store.WebhookDelivery{}, err
	}
	notFound := errclass.New(errclass.NotFound, "webhook delivery %s not found", id)
	if !validID(id) {
		return store.WebhookDelivery{}, notFound
	}
	var d webhookDeliveryDoc
	ok, err := t.getDoc(t.s.c.Collection(webhookDeliveriesCollection).Doc(id), &d, "webhook delivery "+id)
	switch {
	case err != nil:
		return store.WebhookDelivery{}, err
	case !ok:
		return store.WebhookDelivery{}, notFound
	}
	return store.NormWebhookDelivery(store.WebhookDelivery{ID: id, JobID: d.JobID, ProjectID: d.ProjectID,
		EventType: d.EventType, Attempts: d.Attempts, FirstAttemptAt: d.FirstAttemptAt, NextAttemptAt: d.NextAttemptAt,
		LeaseUntil: d.LeaseUntil, Outcome: store.WebhookOutcome(d.Outcome), LastStatus: d.LastStatus,
		LastError: d.LastError, UpdatedAt: d.UpdatedAt}), nil
}

func (t *tx) PutWebhookDelivery(d store.WebhookDelivery) error {
	if err := t.checkWrite("webhook delivery", d.ID); err != nil {
		return err
	}
	d = store.NormWebhookDelivery(d)
	t.set(t.s.c.Collection(webhookDeliveriesCollection).Doc(d.ID), webhookDeliveryDoc{
		JobID: d.JobID, ProjectID: d.ProjectID, EventType: d.EventType, Attempts: d.Attempts,
		FirstAttemptAt: d.FirstAttemptAt, NextAttemptAt: d.NextAttemptAt, LeaseUntil: d.LeaseUntil,
		Outcome: string(d.Outcome), LastStatus: d.LastStatus, LastError: d.LastError, UpdatedAt: d.UpdatedAt,
		ExpireAt: d.FirstAttemptAt.Add(Retention)})
	return nil
}
