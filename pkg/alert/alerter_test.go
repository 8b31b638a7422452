package alert_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/sim/inbox"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

func event(t *testing.T, eventType, project string, v any) *queue.Message {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	attrs := map[string]string{}
	if eventType != "" {
		attrs[queue.AttrEventType] = eventType
	}
	if project != "" {
		attrs[queue.AttrProjectID] = project
	}
	return &queue.Message{Data: b, Attributes: attrs}
}

type received struct{ channel, to string }

func who(in *inbox.Inbox) []received {
	var out []received
	for _, m := range in.Messages() {
		out = append(out, received{m.Channel, m.To})
	}
	return out
}

func TestEventsReachTheOperatorsAndTheProjectsThatAskedForThem(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	smtpAddr := serveSMTP(t, in)
	st := memstore.New()
	ctx := context.Background()
	require.NoError(t, st.PutNotifications(ctx, alert.Settings{Emails: []string{"a@example.com"},
		Events: []alert.Kind{alert.JobFailed, alert.CircuitOpen}}.ToStore("proj-a", at)))
	require.NoError(t, st.PutNotifications(ctx, alert.Settings{SlackWebhookURL: srv.URL + "/slack/b",
		Events: []alert.Kind{alert.BudgetThreshold, alert.BudgetForecast}}.ToStore("proj-b", at)))
	al := &alert.Alerter{
		Channels: alert.Channels{
			Client: loopback,
			Email:  alert.Email{Addr: smtpAddr, TLS: alert.TLSNone, From: "alerts@example.com"},
			SMS:    alert.SMS{BaseURL: srv.URL, AccountSID: "ACdev", AuthToken: "dev-token", From: "+15550100"},
		},
		Ops:   alert.Settings{SlackWebhookURL: srv.URL + "/slack/ops", SMS: []string{"+15550199"}},
		Store: st,
	}
	raise := func(m *queue.Message) []received {
		t.Helper()
		a, ok, err := alert.FromEvent(m, at)
		require.NoError(t, err)
		require.True(t, ok)
		before := len(in.Messages())
		ds, err := al.Raise(ctx, a)
		require.NoError(t, err)
		require.NoError(t, alert.Failed(ds))
		return who(in)[before:]
	}

	opened := circuit.Event{Type: circuit.EventTypeCircuit, Backend: "fal", State: circuit.Open, Previous: circuit.Closed, ConsecutiveFailures: 3, At: at}
	assert.ElementsMatch(t, []received{{"slack", "/slack/ops"}, {"sms", "+15550199"}, {"email", "a@example.com"}},
		raise(event(t, circuit.EventTypeCircuit, "", opened)), "system-wide: operators and every project that asked")

	failed := dispatch.Lifecycle{JobID: "j1", ProjectID: "proj-a", Status: job.StatusFailed, Error: &job.ErrorInfo{Code: job.CodeBackendFailed, Message: "all 3 attempts failed"}}
	assert.Equal(t, []received{{"email", "a@example.com"}}, raise(event(t, "", "proj-a", failed)), "a project's own alert: that project only")

	th := budget.ThresholdEvent{Type: budget.EventTypeThreshold, ProjectID: "proj-b", Period: "2026-12", Threshold: 80,
		Spent: money.MustParse("70"), Reserved: money.MustParse("10.5"), Limit: money.MustParse("100")}
	assert.Equal(t, []received{{"slack", "/slack/b"}}, raise(event(t, budget.EventTypeThreshold, "proj-b", th)))
	last := in.Messages()[len(in.Messages())-1]
	assert.Equal(t, "Budget 80% used — project proj-b (2026-12)", last.Text)
	assert.Contains(t, string(last.Raw), "Project proj-b has committed $80.5 of its $100 monthly budget for 2026-12.")

	runsOut := time.Date(2026, 12, 29, 10, 0, 0, 0, time.UTC)
	fc := budget.ForecastEvent{Type: budget.EventTypeForecast, ProjectID: "proj-b", Period: "2026-12", Spent: money.MustParse("812.4"),
		Projected: money.MustParse("2610.5"), Low: money.MustParse("2390"), High: money.MustParse("2830"), Limit: money.MustParse("2500"),
		ExhaustionAt: &runsOut}
	assert.Equal(t, []received{{"slack", "/slack/b"}}, raise(event(t, budget.EventTypeForecast, "proj-b", fc)), "proj-b asked for budget.forecast")
	last = in.Messages()[len(in.Messages())-1]
	assert.Equal(t, "Budget projected to run out — project proj-b (2026-12)", last.Text)
	assert.Contains(t, string(last.Raw), "project proj-b will spend $2610.50 by the end of 2026-12 (likely $2390.00 to $2830.00), past its $2500.00 monthly budget.")
	assert.Contains(t, string(last.Raw), "runs out around 2026-12-29 10:00 UTC")
	fa := fc
	fa.ProjectID = "proj-a"
	assert.Empty(t, raise(event(t, budget.EventTypeForecast, "proj-a", fa)), "proj-a did not ask, and operators get no project's forecast")

	an := learn.AnomalyEvent{Type: learn.EventTypeAnomaly, Backend: "fal", Signal: learn.SignalErrorRate, State: learn.AnomalyStarted,
		Value: 0.4, Baseline: 0.03, Score: 9.2, Unit: "ratio", Samples: 60, Since: at, At: at}
	assert.ElementsMatch(t, []received{{"slack", "/slack/ops"}, {"sms", "+15550199"}},
		raise(event(t, learn.EventTypeAnomaly, "", an)), "system-wide: operators; no project asked")
	for _, m := range in.Messages() {
		if m.Channel == "slack" && m.To == "/slack/ops" {
			last = m // the operators' latest
		}
	}
	assert.Equal(t, "Backend fal: error rate anomalous", last.Text)
	assert.Contains(t, string(last.Raw), "Over the last 15 minutes its error rate was 40.0%, against 3.0% usually (robust score 9.2).")
	an.State, an.Value, an.Score = learn.AnomalyEnded, 0.02, 0.3
	a, ok, err := alert.FromEvent(event(t, learn.EventTypeAnomaly, "", an), at)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "Backend fal: error rate back to normal", a.Subject)
	assert.Equal(t, alert.Info, a.Severity)
	an.Stale = true
	a, _, err = alert.FromEvent(event(t, learn.EventTypeAnomaly, "", an), at)
	require.NoError(t, err)
	assert.Equal(t, "Backend fal: error rate no longer judged", a.Subject)
	assert.Contains(t, a.Text, "No attempt on it for an hour")

	dl := consumer.DeadLetterEvent{Type: consumer.EventTypeDeadLetter, Subscription: "aiprod-router", DeadLetterTopic: "aiprod-jobs-dlq",
		Reason: "undecodable", ProjectID: "proj-a", At: at}
	assert.ElementsMatch(t, []received{{"slack", "/slack/ops"}, {"sms", "+15550199"}},
		raise(event(t, consumer.EventTypeDeadLetter, "proj-a", dl)), "dead letters go to operators; proj-a did not ask")
}

func TestOtherLifecycleEventsRaiseNothing(t *testing.T) {
	for _, s := range []job.Status{job.StatusSucceeded, job.StatusCanceled} {
		_, ok, err := alert.FromEvent(event(t, "", "p", dispatch.Lifecycle{JobID: "j", ProjectID: "p", Status: s}), at)
		require.NoError(t, err)
		assert.False(t, ok, s)
	}
	_, ok, err := alert.FromEvent(event(t, "budget_someday", "p", map[string]any{"x": 1}), at)
	require.NoError(t, err)
	assert.False(t, ok, "an event type this version does not know")
	_, _, err = alert.FromEvent(&queue.Message{Data: []byte("{"), Attributes: map[string]string{queue.AttrEventType: circuit.EventTypeCircuit}}, at)
	require.Error(t, err)
}

func TestAFlakyDestinationIsRetriedAndASlowOneDoesNotHoldTheOthers(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	in.FailNext(http.StatusServiceUnavailable)
	slow := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-slow })
	hung := startServer(t, hang)
	defer close(slow)
	al := &alert.Alerter{
		Channels: alert.Channels{Client: &http.Client{Timeout: 300 * time.Millisecond, Transport: loopback.Transport}},
		Retry:    retry.Policy{MaxAttempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }},
		Ops:      alert.Settings{SlackWebhookURL: srv.URL + "/slack/ops"},
	}
	ds, err := al.Raise(context.Background(), sample())
	require.NoError(t, err)
	require.NoError(t, alert.Failed(ds))
	assert.Len(t, in.Messages(), 1, "a 503 is retried and the alert delivered once")

	// A hung receiver and a working one: the working one gets it at once,
	// the hung one times out on its own.
	st := memstore.New()
	require.NoError(t, st.PutNotifications(context.Background(), alert.Settings{SlackWebhookURL: hung + "/slack/hung",
		Events: []alert.Kind{alert.CircuitOpen}}.ToStore("p", at)))
	al.Store, al.Retry.MaxAttempts = st, 1
	start := time.Now()
	ds, err = al.Raise(context.Background(), sample())
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Len(t, in.Messages(), 2)
	require.Len(t, ds, 2)
	assert.Error(t, alert.Failed(ds))
}

// A forecast alert says when the budget runs out, or that it already has,
// or nothing of it when the limit outlasts the month's projection path.
func TestForecastAlertText(t *testing.T) {
	ev := budget.ForecastEvent{Type: budget.EventTypeForecast, ProjectID: "p", Period: "2026-12", Spent: money.MustParse("80"),
		Projected: money.MustParse("120.004"), Low: money.MustParse("110"), High: money.MustParse("130"), Limit: money.MustParse("100")}
	text := func(ev budget.ForecastEvent) string {
		t.Helper()
		a, ok, err := alert.FromEvent(event(t, budget.EventTypeForecast, "p", ev), at)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, alert.BudgetForecast, a.Kind)
		assert.Equal(t, alert.Warning, a.Severity)
		assert.Equal(t, "p", a.Project)
		return a.Text
	}
	later, earlier := at.Add(48*time.Hour), at.Add(-time.Hour)
	ev.ExhaustionAt = &later
	assert.Contains(t, text(ev), "will spend $120.00 by the end of 2026-12 (likely $110.00 to $130.00), past its $100.00 monthly budget. "+
		"The budget runs out around 2026-12-06 10:30 UTC")
	ev.ExhaustionAt = &earlier
	assert.Contains(t, text(ev), "The budget is already spent: new jobs are refused.")
	ev.ExhaustionAt = nil
	assert.NotContains(t, text(ev), "runs out")
}
