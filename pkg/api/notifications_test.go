package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/api"
)

func TestPutAndGetNotifications(t *testing.T) {
	t.Parallel()
	e := setup(t)
	path := "/v1/admin/projects/" + projectA + "/notifications"
	body := `{"slack_webhook_url": "https://hooks.slack.com/services/T0/B0/secret-token",
		"emails": ["ops@example.com", "dana@example.com", "ops@example.com"], "sms": ["+15550100"],
		"events": ["job.failed", "budget.threshold", "backend.circuit_open", "dlq.message", "budget.forecast"]}`
	r := e.do(http.MethodPut, path, adminKey, body)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.NotContains(t, r.body, "secret-token", "the Slack URL is a credential")
	want := api.NotificationsView{ProjectID: projectA, SlackWebhookURL: "https://hooks.slack.com/…",
		Emails: []string{"dana@example.com", "ops@example.com"}, SMS: []string{"+15550100"},
		Events: []alert.Kind{alert.BudgetThreshold, alert.BudgetForecast, alert.CircuitOpen, alert.JobFailed, alert.DLQMessage}}
	assert.Equal(t, want, *decode[api.NotificationsView](t, r))

	r = e.do(http.MethodGet, path, adminKey, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, want, *decode[api.NotificationsView](t, r))

	stored, err := e.st.GetNotifications(context.Background(), projectA)
	require.NoError(t, err)
	assert.Equal(t, "https://hooks.slack.com/services/T0/B0/secret-token", stored.SlackWebhookURL)

	// A project without settings: empty lists, not nulls.
	r = e.do(http.MethodGet, "/v1/admin/projects/"+projectB+"/notifications", adminKey, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"project_id":"`+projectB+`","slack_webhook_url":"","emails":[],"sms":[],"events":[]}`, string(r.body))
}

func TestPutNotificationsRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	path := "/v1/admin/projects/" + projectA + "/notifications"
	for _, tt := range []struct{ name, body, field string }{
		{"http slack url", `{"slack_webhook_url": "http://hooks.slack.com/x", "events": []}`, "slack_webhook_url"},
		{"not a url", `{"slack_webhook_url": "hooks", "events": []}`, "slack_webhook_url"},
		{"named email", `{"emails": ["Ops <ops@example.com>"], "events": []}`, "emails"},
		{"bad phone", `{"sms": ["555-0100"], "events": []}`, "sms"},
		{"unknown event", `{"events": ["budget.exploded"]}`, "events"},
		{"unknown field", `{"events": [], "pager": "x"}`, "pager"},
		{"events not a list", `{"events": "job.failed"}`, "events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireError(t, e.do(http.MethodPut, path, adminKey, tt.body), http.StatusBadRequest, "invalid_request", tt.field)
		})
	}
	requireError(t, e.do(http.MethodPut, path, keyA, `{"events": []}`), http.StatusUnauthorized, "unauthenticated", "")
	requireError(t, e.do(http.MethodGet, path, keyA, ""), http.StatusUnauthorized, "unauthenticated", "")
	n, err := e.st.GetNotifications(context.Background(), projectA)
	require.NoError(t, err)
	assert.Empty(t, n.Events, "nothing was stored")
}

func TestDevAcceptsALoopbackSlackReceiver(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *api.Config) { c.AllowPrivateNetworks = true })
	r := e.do(http.MethodPut, "/v1/admin/projects/"+projectA+"/notifications", adminKey,
		`{"slack_webhook_url": "http://127.0.0.1:9000/slack/dev", "events": ["job.failed"]}`)
	require.Equal(t, http.StatusOK, r.status, r.body)
}
