package firestorestore

import (
	"context"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/store"
)

// notificationsCollection holds notifications/{project}: a project's
// operator-alert settings.
const notificationsCollection = "notifications"

type notificationsDoc struct {
	SlackWebhookURL string    `firestore:"slack_webhook_url,omitempty"`
	Emails          []string  `firestore:"emails"`
	SMS             []string  `firestore:"sms"`
	Events          []string  `firestore:"events"`
	UpdatedAt       time.Time `firestore:"updated_at"`
}

func (s *Store) notificationsRef(projectID string) *firestore.DocumentRef {
	return s.c.Collection(notificationsCollection).Doc(projectID)
}

func fromNotificationsDoc(id string, d notificationsDoc) store.Notifications {
	return store.Notifications{ProjectID: id, SlackWebhookURL: d.SlackWebhookURL, Emails: d.Emails, SMS: d.SMS,
		Events: d.Events, UpdatedAt: store.NormalizeTime(d.UpdatedAt)}
}

// GetNotifications reads a project's settings (zero when absent).
func (s *Store) GetNotifications(ctx context.Context, projectID string) (store.Notifications, error) {
	if err := checkID("project", projectID); err != nil {
		return store.Notifications{}, err
	}
	snap, err := s.notificationsRef(projectID).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return store.Notifications{ProjectID: projectID}, nil
	}
	if err != nil {
		return store.Notifications{}, classify(err, "get notification settings of project %s", projectID)
	}
	var d notificationsDoc
	if err := snap.DataTo(&d); err != nil {
		return store.Notifications{}, classify(err, "decode notification settings of project %s", projectID)
	}
	return fromNotificationsDoc(projectID, d), nil
}

// PutNotifications replaces a project's settings.
func (s *Store) PutNotifications(ctx context.Context, n store.Notifications) error {
	if err := checkID("project", n.ProjectID); err != nil {
		return err
	}
	d := notificationsDoc{SlackWebhookURL: n.SlackWebhookURL, Emails: n.Emails, SMS: n.SMS, Events: n.Events,
		UpdatedAt: store.NormalizeTime(n.UpdatedAt)}
	if _, err := s.notificationsRef(n.ProjectID).Set(ctx, d); err != nil {
		return classify(err, "put notification settings of project %s", n.ProjectID)
	}
	return nil
}

// ListNotifications returns every project's settings, by project id.
func (s *Store) ListNotifications(ctx context.Context) ([]store.Notifications, error) {
	out, err := listDocs(s.c.Collection(notificationsCollection).Documents(ctx), "notification settings", fromNotificationsDoc)
	if err != nil {
		return nil, err
	}
	store.SortNotifications(out)
	return out, nil
}
