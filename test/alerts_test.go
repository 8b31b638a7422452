package test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/sim/inbox"
)

// TestOperatorAlertEndToEnd (issue 12, item 4): through the dev stack, a
// project that asked for job.failed alerts on Slack and email gets both in
// the local inbox when a job fails (here: over its budget), and the inbox
// is what `aiprod dev` prints as the place to read alerts.
func TestOperatorAlertEndToEnd(t *testing.T) {
	t.Parallel()
	st, c := setup(t)
	ctx := context.Background()
	admin := client.New(st.APIURL, devstack.AdminKeyDefault)
	base := strings.TrimSuffix(st.AlertsURL, "/__sim/messages")
	settings := `{"slack_webhook_url": "` + base + `/slack/dev-team", "emails": ["dev-team@example.com"], "events": ["job.failed"]}`
	require.NoError(t, admin.Do(ctx, http.MethodPut, "/v1/admin/projects/dev/notifications", []byte(settings), nil))
	require.NoError(t, admin.Do(ctx, http.MethodPut, "/v1/admin/projects/dev/budget", []byte(`{"monthly_limit_usd": 0.000001}`), nil))

	j, err := c.Submit(ctx, job.Request{Prompt: "an alert end to end", DurationSeconds: 5}, client.SubmitOptions{})
	require.NoError(t, err)
	done := waitTerminal(t, c, j.ID)
	require.Equal(t, job.StatusFailed, done.Status)
	require.Equal(t, job.CodeBudgetExceeded, done.Error.Code)

	var got []inbox.Message
	require.Eventually(t, func() bool {
		resp, err := http.Get(st.AlertsURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ Messages []inbox.Message }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		got = body.Messages
		return len(got) >= 2
	}, 30*time.Second, 50*time.Millisecond, "the project's Slack and email alerts arrive")
	channels := map[string]inbox.Message{}
	for _, m := range got {
		channels[m.Channel] = m
	}
	require.Equal(t, "/slack/dev-team", channels["slack"].To)
	require.Equal(t, "Job "+j.ID+" failed: budget_exceeded", channels["slack"].Text)
	require.Equal(t, "dev-team@example.com", channels["email"].To)
	require.Equal(t, "[AIPROD] Job "+j.ID+" failed: budget_exceeded", channels["email"].Subject)
	require.Contains(t, channels["email"].Text, "aiprod trace "+j.ID)
	require.Len(t, got, 2, "the operations channel is not told of a project's failed job")
}
