package memstore

import (
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// webhookData holds the webhook secrets by project and the delivery states
// by webhook-id.
type webhookData struct {
	secrets    map[string]store.WebhookSecret
	deliveries map[string]store.WebhookDelivery
}

func (t *tx) GetWebhookSecret(projectID string) (store.WebhookSecret, error) {
	if err := t.checkRead(); err != nil {
		return store.WebhookSecret{}, err
	}
	s, ok := t.s.webhooks.secrets[projectID]
	if !ok {
		return store.WebhookSecret{}, errclass.New(errclass.NotFound, "webhook secret of project %s not found", projectID)
	}
	return s, nil
}

func (t *tx) PutWebhookSecret(ws store.WebhookSecret) error {
	if err := t.checkWrite("project", ws.ProjectID); err != nil {
		return err
	}
	ws = store.NormWebhookSecret(ws)
	t.addWrite(write{apply: func(s *Store) {
		if s.webhooks.secrets == nil {
			s.webhooks.secrets = map[string]store.WebhookSecret{}
		}
		s.webhooks.secrets[ws.ProjectID] = ws
	}})
	return nil
}

func (t *tx) GetWebhookDelivery(id string) (store.WebhookDelivery, error) {
	if err := t.checkRead(); err != nil {
		return store.WebhookDelivery{}, err
	}
	d, ok := t.s.webhooks.deliveries[id]
	if !ok {
		return store.WebhookDelivery{}, errclass.New(errclass.NotFound, "webhook delivery %s not found", id)
	}
	return d, nil
}

func (t *tx) PutWebhookDelivery(d store.WebhookDelivery) error {
	if err := t.checkWrite("webhook delivery", d.ID); err != nil {
		return err
	}
	d = store.NormWebhookDelivery(d)
	t.addWrite(write{apply: func(s *Store) {
		if s.webhooks.deliveries == nil {
			s.webhooks.deliveries = map[string]store.WebhookDelivery{}
		}
		s.webhooks.deliveries[d.ID] = d
	}})
	return nil
}
