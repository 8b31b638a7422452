package alert

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/store"
)

// Settings are a project's operator alerts, as PUT
// /v1/admin/projects/{p}/notifications takes them: where to send (a Slack
// incoming webhook, email addresses, phone numbers) and which kinds.
type Settings struct {
	SlackWebhookURL string   `json:"slack_webhook_url,omitempty"`
	Emails          []string `json:"emails,omitempty"`
	SMS             []string `json:"sms,omitempty"`
	Events          []Kind   `json:"events"`
}

// Limits on the settings, so one project cannot fan an alert out widely.
const (
	MaxEmails = 20
	MaxPhones = 10
)

// Validate checks the settings; the error is a *job.FieldError naming the
// field. allowHTTP accepts an http:// or private-network Slack URL (the
// dev stack's inbox on loopback); services take https to public hosts
// only, as Slack's hooks are (and the dial is guarded again).
func (s Settings) Validate(allowHTTP bool) error {
	if s.SlackWebhookURL != "" {
		u, err := url.Parse(s.SlackWebhookURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(allowHTTP && u.Scheme == "http")) {
			return &job.FieldError{Field: "slack_webhook_url", Message: "must be an absolute https URL (a Slack incoming webhook)"}
		}
		if err := netguard.CheckURL(s.SlackWebhookURL); err != nil && !allowHTTP {
			return &job.FieldError{Field: "slack_webhook_url", Message: "must reach a public address: " + err.Error()}
		}
	}
	if len(s.Emails) > MaxEmails {
		return &job.FieldError{Field: "emails", Message: fmt.Sprintf("must hold at most %d addresses", MaxEmails)}
	}
	for _, e := range s.Emails {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return &job.FieldError{Field: "emails", Message: fmt.Sprintf("%q is not a bare email address (ops@example.com)", e)}
		}
	}
	if len(s.SMS) > MaxPhones {
		return &job.FieldError{Field: "sms", Message: fmt.Sprintf("must hold at most %d numbers", MaxPhones)}
	}
	for _, p := range s.SMS {
		if !ValidPhone(p) {
			return &job.FieldError{Field: "sms", Message: fmt.Sprintf("%q is not an E.164 number (+15550100)", p)}
		}
	}
	for _, k := range s.Events {
		if !k.Valid() {
			return &job.FieldError{Field: "events", Message: fmt.Sprintf("%q is not one of %v", k, Kinds)}
		}
	}
	return nil
}

// Wants reports whether the settings ask for alerts of kind k.
func (s Settings) Wants(k Kind) bool { return slices.Contains(s.Events, k) }

// Channels are the accounts alerts are sent through, configured by the
// environment of the service that sends them: an SMTP server and sender,
// a Twilio account and number. A zero part leaves that channel off.
type Channels struct {
	Email  Email        // Addr and From set: email is on; To is taken from the settings
	SMS    SMS          // AccountSID and From set: SMS is on; To is taken from the settings
	Client *http.Client // for Slack and Twilio; nil: DefaultTimeout
}

// Senders returns one Sender per destination in s, skipping the channels
// that are off (with the reason in skipped, for a log line).
func (c Channels) Senders(s Settings) (senders []Sender, skipped []string) {
	if s.SlackWebhookURL != "" {
		senders = append(senders, &Slack{URL: s.SlackWebhookURL, Client: c.Client})
	}
	if len(s.Emails) > 0 {
		if c.Email.Addr == "" || c.Email.From == "" {
			skipped = append(skipped, "email: no SMTP server configured")
		} else {
			e := c.Email
			e.To = slices.Clone(s.Emails)
			senders = append(senders, &e)
		}
	}
	for _, to := range s.SMS {
		if c.SMS.AccountSID == "" || c.SMS.From == "" {
			skipped = append(skipped, "sms: no Twilio account configured")
			break
		}
		m := c.SMS
		m.To, m.Client = to, c.Client
		senders = append(senders, &m)
	}
	return senders, skipped
}

// FromStore returns the settings as stored.
func FromStore(n store.Notifications) Settings {
	s := Settings{SlackWebhookURL: n.SlackWebhookURL, Emails: slices.Clone(n.Emails), SMS: slices.Clone(n.SMS)}
	for _, e := range n.Events {
		s.Events = append(s.Events, Kind(e))
	}
	return s
}

// ToStore returns the settings of project to store, with their kinds in
// Kinds order, each once.
func (s Settings) ToStore(project string, now time.Time) store.Notifications {
	n := store.Notifications{ProjectID: project, SlackWebhookURL: s.SlackWebhookURL,
		Emails: slices.Compact(slices.Sorted(slices.Values(s.Emails))), SMS: slices.Compact(slices.Sorted(slices.Values(s.SMS))),
		Events: []string{}, UpdatedAt: now}
	for _, k := range Kinds {
		if s.Wants(k) {
			n.Events = append(n.Events, string(k))
		}
	}
	return n
}
