package alert_test

import (
	"context"
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
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/sim/inbox"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

func TestTheAlertsHandlerRaisesEachEventOnceAndEveryBackendDown(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	st := memstore.New()
	ctx := context.Background()
	al := &alert.Alerter{Channels: alert.Channels{Client: loopback}, Ops: alert.Settings{SlackWebhookURL: srv.URL + "/slack/ops"}, Store: st}
	open := func(name string) {
		_, err := store.UpdateBackend(ctx, st, name, at, func(b *store.BackendState) error {
			b.Breaker = circuit.Breaker{State: circuit.Open, ConsecutiveFailures: 3, OpenedAt: at}
			return nil
		})
		require.NoError(t, err)
	}
	_, err := store.UpdateBackend(ctx, st, "veo", at, func(b *store.BackendState) error { b.Disabled = true; return nil })
	require.NoError(t, err)
	h := al.Handler(alert.BackendsDownOf(st, []string{"fal", "luma", "veo"}))
	handle := func(m *queue.Message) consumer.Outcome { t.Helper(); return h(ctx, m) }
	subjects := func() []string {
		var out []string
		for _, m := range in.Messages() {
			out = append(out, m.Text)
		}
		return out
	}

	open("fal")
	o := handle(event(t, circuit.EventTypeCircuit, "", circuit.Event{Type: circuit.EventTypeCircuit, Backend: "fal", State: circuit.Open, Previous: circuit.Closed, At: at}))
	assert.Equal(t, consumer.VerdictAck, o.Verdict)
	assert.Equal(t, []string{"Backend fal is failing: circuit opened"}, subjects(), "luma is still up")

	open("luma")
	handle(event(t, circuit.EventTypeCircuit, "", circuit.Event{Type: circuit.EventTypeCircuit, Backend: "luma", State: circuit.Open, Previous: circuit.Closed, At: at}))
	assert.Equal(t, []string{"Backend fal is failing: circuit opened", "Backend luma is failing: circuit opened", "Every backend is down"}, subjects(),
		"a disabled backend does not count")

	// A webhook's retry copy of a failed job's event is not news.
	failed := event(t, "", "p", dispatch.Lifecycle{JobID: "j", ProjectID: "p", Status: job.StatusFailed})
	failed.Attributes[queue.AttrRepublished] = "notifier"
	assert.Equal(t, consumer.VerdictAck, handle(failed).Verdict)
	assert.Len(t, in.Messages(), 3)

	// The warehouse's events (a failed attempt's ledger entry, a failed
	// job's lifecycle event with the warehouse's fields) are acked; only
	// the lifecycle event raises an alert.
	ledger := event(t, budget.EventTypeLedgerEntry, "p", budget.LedgerEventOf(store.LedgerEntry{ID: "j-1", JobID: "j", Attempt: 1,
		ProjectID: "p", Backend: "fal", Status: job.AttemptFailed, ErrorCode: "backend_failed", Final: true, At: at}))
	assert.Equal(t, consumer.VerdictAck, handle(ledger).Verdict)
	assert.Len(t, in.Messages(), 3, "a ledger entry raises no alert")
	done := at.Add(time.Minute)
	lc := event(t, "", "p", dispatch.Lifecycle{JobID: "j2", ProjectID: "p", Status: job.StatusFailed, Tier: job.TierDraft,
		CreatedAt: at, CompletedAt: &done, Error: &job.ErrorInfo{Code: job.CodeNoBackend, Message: "none"}})
	assert.Equal(t, consumer.VerdictAck, handle(lc).Verdict)
	raised, ok, err := alert.FromEvent(lc, at)
	require.NoError(t, err, "a failed job's event with the warehouse's fields decodes")
	assert.True(t, ok)
	assert.Equal(t, alert.JobFailed, raised.Kind)

	bad := &queue.Message{Data: []byte("{"), Attributes: map[string]string{queue.AttrEventType: circuit.EventTypeCircuit}}
	assert.Equal(t, consumer.VerdictDeadLetter, handle(bad).Verdict)
}
