package alert_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/platform"
)

func TestFromVars(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	v := platform.NewVars(env(map[string]string{
		"AIPROD_OPS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/ops-secret", "AIPROD_OPS_EMAILS": "ops@example.com, sre@example.com",
		"AIPROD_OPS_SMS": "+15550199", "AIPROD_OPS_EVENTS": "backend.circuit_open,dlq.message",
		"AIPROD_SMTP_ADDR": "smtp.example.com:587", "AIPROD_SMTP_FROM": "alerts@example.com", "AIPROD_SMTP_USERNAME": "u", "AIPROD_SMTP_PASSWORD": "p",
		"AIPROD_TWILIO_ACCOUNT_SID": "AC1", "AIPROD_TWILIO_AUTH_TOKEN": "tok", "AIPROD_TWILIO_FROM": "+15550100",
	}))
	c, ops := alert.FromVars(v, false)
	require.NoError(t, v.Err())
	assert.Equal(t, alert.Email{Addr: "smtp.example.com:587", From: "alerts@example.com", Username: "u", Password: "p"}, c.Email)
	assert.Equal(t, alert.SMS{AccountSID: "AC1", AuthToken: "tok", From: "+15550100"}, c.SMS)
	assert.Equal(t, alert.Settings{SlackWebhookURL: "https://hooks.slack.com/services/T/B/ops-secret", Emails: []string{"ops@example.com", "sre@example.com"},
		SMS: []string{"+15550199"}, Events: []alert.Kind{alert.CircuitOpen, alert.DLQMessage}}, ops)

	v = platform.NewVars(env(nil))
	c, ops = alert.FromVars(v, false)
	require.NoError(t, v.Err(), "every channel is optional")
	assert.Equal(t, alert.Channels{}, c)
	assert.Equal(t, alert.Settings{}, ops)

	for name, kv := range map[string]map[string]string{
		"AIPROD_SMTP_TLS":              {"AIPROD_SMTP_TLS": "ssl"},
		"AIPROD_SMTP_ADDR":             {"AIPROD_SMTP_ADDR": "smtp:25"},
		"AIPROD_TWILIO_FROM":           {"AIPROD_TWILIO_ACCOUNT_SID": "AC1", "AIPROD_TWILIO_FROM": "5550100"},
		"AIPROD_OPS_SLACK_WEBHOOK_URL": {"AIPROD_OPS_SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T/B/ops-secret"},
		"AIPROD_OPS_EMAILS":            {"AIPROD_OPS_EMAILS": "not-an-address"},
		"AIPROD_OPS_SMS":               {"AIPROD_OPS_SMS": "555"},
		"AIPROD_OPS_EVENTS":            {"AIPROD_OPS_EVENTS": "everything"},
	} {
		v := platform.NewVars(env(kv))
		alert.FromVars(v, false)
		require.Error(t, v.Err(), name)
		assert.Contains(t, v.Err().Error(), name+": ")
		assert.NotContains(t, v.Err().Error(), "ops-secret")
	}
	v = platform.NewVars(env(map[string]string{"AIPROD_OPS_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack/ops"}))
	alert.FromVars(v, true)
	require.NoError(t, v.Err(), "dev: the loopback inbox")
}
