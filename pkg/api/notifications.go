package api

import (
	"net/http"
	"net/url"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/store"
)

// NotificationsView is the body of PUT and GET
// /v1/admin/projects/{project}/notifications. The Slack webhook URL is a
// credential: answers show only its scheme and host ("https://hooks.slack.com/…");
// a PUT replaces every field, so send the URL again to keep it.
type NotificationsView struct {
	ProjectID       string       `json:"project_id"`
	SlackWebhookURL string       `json:"slack_webhook_url"`
	Emails          []string     `json:"emails"`
	SMS             []string     `json:"sms"`
	Events          []alert.Kind `json:"events"`
}

func notificationsView(n store.Notifications) NotificationsView {
	s := alert.FromStore(n)
	v := NotificationsView{ProjectID: n.ProjectID, Emails: s.Emails, SMS: s.SMS, Events: s.Events}
	if u, err := url.Parse(n.SlackWebhookURL); err == nil && u.Host != "" {
		v.SlackWebhookURL = u.Scheme + "://" + u.Host + "/…"
	}
	if v.Emails == nil {
		v.Emails = []string{}
	}
	if v.SMS == nil {
		v.SMS = []string{}
	}
	if v.Events == nil {
		v.Events = []alert.Kind{}
	}
	return v
}

// putNotifications is PUT /v1/admin/projects/{project}/notifications with
// alert.Settings as the body: it replaces the project's operator alerts.
func (s *Server) putNotifications(w http.ResponseWriter, r *http.Request) error {
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	body, err := readJSON[alert.Settings](s, w, r)
	if err != nil {
		return err
	}
	if err := body.Validate(s.cfg.AllowPrivateNetworks); err != nil {
		return err
	}
	n := body.ToStore(project, store.NormalizeTime(s.cfg.Now()))
	if err := s.cfg.Store.PutNotifications(r.Context(), n); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, notificationsView(n))
	return nil
}

// getNotifications is GET /v1/admin/projects/{project}/notifications.
func (s *Server) getNotifications(w http.ResponseWriter, r *http.Request) error {
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	n, err := s.cfg.Store.GetNotifications(r.Context(), project)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, notificationsView(n))
	return nil
}
