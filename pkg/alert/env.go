package alert

import (
	"errors"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/platform"
)

// Env lists the variables FromVars reads, for --help texts and the README.
const Env = `  AIPROD_OPS_SLACK_WEBHOOK_URL  operations channel: a Slack incoming webhook (system-wide alerts)
  AIPROD_OPS_EMAILS             operations channel: email addresses, comma-separated
  AIPROD_OPS_SMS                operations channel: E.164 numbers, comma-separated
  AIPROD_OPS_EVENTS             alert kinds for the operations channel (default: backend.circuit_open,
                                backend.circuit_closed, backend.all_down, backend.anomaly, dlq.message)
  AIPROD_SMTP_ADDR              SMTP server host:port; with AIPROD_SMTP_FROM turns email on
  AIPROD_SMTP_FROM              sender address of alert emails
  AIPROD_SMTP_TLS               starttls (default), tls or none
  AIPROD_SMTP_USERNAME          AUTH PLAIN user (only over TLS)
  AIPROD_SMTP_PASSWORD          AUTH PLAIN password (secret: never logged)
  AIPROD_TWILIO_ACCOUNT_SID     Twilio account; with AIPROD_TWILIO_FROM turns SMS on
  AIPROD_TWILIO_AUTH_TOKEN      Twilio auth token (secret: never logged)
  AIPROD_TWILIO_FROM            the account's sending number (E.164)
  AIPROD_TWILIO_API             Twilio API base URL (default https://api.twilio.com)`

// FromVars reads the alert channels' accounts and the operations channel
// from the environment (Env lists the variables). allowHTTP accepts an
// http:// Slack URL (the dev stack's inbox). Bad values are recorded in v,
// naming the variable and never quoting a secret.
func FromVars(v *platform.Vars, allowHTTP bool) (Channels, Settings) {
	c := Channels{
		Email: Email{Addr: v.Get("AIPROD_SMTP_ADDR"), From: v.Get("AIPROD_SMTP_FROM"), TLS: v.Get("AIPROD_SMTP_TLS"),
			Username: v.Get("AIPROD_SMTP_USERNAME"), Password: v.Get("AIPROD_SMTP_PASSWORD")},
		SMS: SMS{BaseURL: v.Get("AIPROD_TWILIO_API"), AccountSID: v.Get("AIPROD_TWILIO_ACCOUNT_SID"),
			AuthToken: v.Get("AIPROD_TWILIO_AUTH_TOKEN"), From: v.Get("AIPROD_TWILIO_FROM")},
	}
	switch c.Email.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		v.Fail("AIPROD_SMTP_TLS", "want starttls, tls or none, got %q", c.Email.TLS)
	}
	if (c.Email.Addr == "") != (c.Email.From == "") {
		v.Fail("AIPROD_SMTP_ADDR", "AIPROD_SMTP_ADDR and AIPROD_SMTP_FROM go together")
	}
	if c.SMS.AccountSID != "" && !ValidPhone(c.SMS.From) {
		v.Fail("AIPROD_TWILIO_FROM", "want the account's E.164 number (+15550100) with AIPROD_TWILIO_ACCOUNT_SID")
	}
	ops := Settings{SlackWebhookURL: v.Get("AIPROD_OPS_SLACK_WEBHOOK_URL"), Emails: v.List("AIPROD_OPS_EMAILS"), SMS: v.List("AIPROD_OPS_SMS")}
	for _, k := range v.List("AIPROD_OPS_EVENTS") {
		ops.Events = append(ops.Events, Kind(k))
	}
	if err := ops.Validate(allowHTTP); err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) {
			name := map[string]string{"slack_webhook_url": "AIPROD_OPS_SLACK_WEBHOOK_URL", "emails": "AIPROD_OPS_EMAILS",
				"sms": "AIPROD_OPS_SMS", "events": "AIPROD_OPS_EVENTS"}[fe.Field]
			if fe.Field == "slack_webhook_url" {
				v.Fail(name, "%s (the value is a secret: not shown)", fe.Message)
			} else {
				v.Fail(name, "%s", fe.Message)
			}
		}
	}
	return c, ops
}
