package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Notifications is a project's operator-alert settings (PUT
// /v1/admin/projects/{p}/notifications): notifications/{project}. Package
// alert validates and uses them; the store keeps them as given.
type Notifications struct {
	ProjectID       string    `json:"project_id"`
	SlackWebhookURL string    `json:"slack_webhook_url,omitempty"` // a credential: never logged
	Emails          []string  `json:"emails,omitempty"`
	SMS             []string  `json:"sms,omitempty"`
	Events          []string  `json:"events"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// NotificationStore keeps the notification settings of projects. They are
// written by an operator and read by the notifier, never inside a job's
// transaction, so the methods stand alone.
type NotificationStore interface {
	// GetNotifications reads a project's settings; a project without any
	// gets the zero value with ProjectID set, never NotFound.
	GetNotifications(ctx context.Context, projectID string) (Notifications, error)
	// PutNotifications writes (replaces) a project's settings.
	PutNotifications(ctx context.Context, n Notifications) error
	// ListNotifications returns every project's settings, by project id:
	// the notifier fans system-wide alerts out to the projects that asked
	// for them. There are at most a few per project.
	ListNotifications(ctx context.Context) ([]Notifications, error)
}

// SortNotifications orders settings by project id.
func SortNotifications(ns []Notifications) {
	slices.SortFunc(ns, func(a, b Notifications) int { return strings.Compare(a.ProjectID, b.ProjectID) })
}
