package memstore

import (
	"context"
	"slices"

	"github.com/aiprod/aiprod/pkg/store"
)

// GetNotifications reads a project's settings (zero when absent).
func (s *Store) GetNotifications(ctx context.Context, projectID string) (store.Notifications, error) {
	if err := s.lock(ctx); err != nil {
		return store.Notifications{}, err
	}
	defer s.mu.Unlock()
	n, ok := s.notifications[projectID]
	if !ok {
		return store.Notifications{ProjectID: projectID}, nil
	}
	return cloneNotifications(n), nil
}

// PutNotifications replaces a project's settings.
func (s *Store) PutNotifications(ctx context.Context, n store.Notifications) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := checkID("project", n.ProjectID); err != nil {
		return err
	}
	if s.notifications == nil {
		s.notifications = map[string]store.Notifications{}
	}
	n.UpdatedAt = norm(n.UpdatedAt)
	s.notifications[n.ProjectID] = cloneNotifications(n)
	return nil
}

// ListNotifications returns every project's settings, by project id.
func (s *Store) ListNotifications(ctx context.Context) ([]store.Notifications, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.Notifications, 0, len(s.notifications))
	for _, n := range s.notifications {
		out = append(out, cloneNotifications(n))
	}
	store.SortNotifications(out)
	return out, nil
}

func cloneNotifications(n store.Notifications) store.Notifications {
	n.Emails, n.SMS, n.Events = slices.Clone(n.Emails), slices.Clone(n.SMS), slices.Clone(n.Events)
	return n
}
