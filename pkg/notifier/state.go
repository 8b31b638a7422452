package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Event types of the notifier's timeline entries (stage notifier).
const (
	EventDelivered = "webhook_delivered"
	EventRetrying  = "webhook_retrying"
	EventGone      = "webhook_gone"
	EventFailed    = "webhook_failed"
)

// claimed is what claim decided: the attempt to make (d, with Attempts its
// number), or that the event is done with, or how long to wait and why.
type claimed struct {
	d       store.WebhookDelivery
	done    bool
	waitFor time.Duration
	why     string
}

// errNoClaim aborts claim's transaction when there is nothing to write.
var errNoClaim = errclass.New(errclass.Conflict, "no attempt to claim")

// claim starts the attempt of webhook id that is due, in one transaction:
// it counts the attempt and leases it for Timeout + LeaseMargin, so that
// another delivery of the event (a redelivery, a republished copy, another
// notifier) does not make it at the same time. Nothing is claimed when the
// event is done with or its next attempt is not due or leased.
func (n *Notifier) claim(ctx context.Context, id string, j *job.Job) (claimed, error) {
	var c claimed
	err := n.writer.RunTx(ctx, func(tx store.Tx) error {
		now := n.cfg.Now()
		c = claimed{}
		d, err := tx.GetWebhookDelivery(id)
		switch {
		case errors.Is(err, errclass.NotFound):
			d = store.WebhookDelivery{ID: id, JobID: j.ID, ProjectID: j.ProjectID, EventType: EventType(j.Status),
				Outcome: store.WebhookPending, FirstAttemptAt: now, NextAttemptAt: now}
		case err != nil:
			return err
		}
		switch {
		case d.Outcome.Final():
			c.done = true
			return errNoClaim
		case now.Before(d.NextAttemptAt):
			c.waitFor, c.why = d.NextAttemptAt.Sub(now), "next webhook attempt not due yet"
			return errNoClaim
		case now.Before(d.LeaseUntil):
			c.waitFor, c.why = d.LeaseUntil.Sub(now), "webhook attempt in progress elsewhere"
			return errNoClaim
		}
		d.Attempts++
		d.LeaseUntil, d.UpdatedAt = now.Add(n.cfg.Timeout+n.cfg.LeaseMargin), now
		c.d = store.NormWebhookDelivery(d)
		return tx.PutWebhookDelivery(d)
	})
	if errors.Is(err, errNoClaim) {
		err = nil
	}
	return c, err
}

// recorded is the delivery state record wrote.
type recorded struct{ d store.WebhookDelivery }

// record writes the outcome of attempt a.Attempts of a webhook with a job
// event, in one transaction: delivered, gone (410), retrying at the
// schedule's next time, or failed when the schedule is over. An event
// already final (another delivery got there first) keeps its outcome.
func (n *Notifier) record(ctx context.Context, j *job.Job, a store.WebhookDelivery, res result) (recorded, error) {
	var out recorded
	err := n.writer.RunTx(ctx, func(tx store.Tx) error {
		now := n.cfg.Now()
		d, err := tx.GetWebhookDelivery(a.ID)
		if err != nil {
			return err
		}
		if d.Outcome.Final() {
			out.d = d
			return errNoClaim
		}
		if d.Attempts == a.Attempts {
			d.LeaseUntil = time.Time{} // ours: the attempt is over
		}
		d.LastStatus, d.LastError, d.UpdatedAt = res.status, res.err, now
		typ, msg := n.outcome(&d, a.Attempts, res, now)
		if err := tx.PutWebhookDelivery(d); err != nil {
			return err
		}
		out.d = store.NormWebhookDelivery(d)
		return tx.AddEvent(j.ID, store.Event{At: store.NormalizeTime(now), Stage: Stage, Type: typ,
			Message: msg, TraceID: telemetry.TraceID(ctx), SpanID: telemetry.SpanID(ctx)})
	})
	if errors.Is(err, errNoClaim) {
		err = nil
	}
	return out, err
}

// outcome applies res to d and returns the job event's type and message.
func (n *Notifier) outcome(d *store.WebhookDelivery, attempt int, res result, now time.Time) (string, string) {
	what := fmt.Sprintf("webhook %s %s, attempt %d", d.ID, d.EventType, attempt)
	switch {
	case res.delivered():
		d.Outcome = store.WebhookDelivered
		return EventDelivered, fmt.Sprintf("%s: delivered (%d)", what, res.status)
	case res.gone():
		d.Outcome = store.WebhookGone
		return EventGone, fmt.Sprintf("%s: 410 Gone; no more attempts", what)
	case res.refused:
		d.Outcome = store.WebhookFailed
		return EventFailed, fmt.Sprintf("%s: %s; no more attempts", what, res.err)
	}
	next, ok := n.cfg.Schedule.Next(d.FirstAttemptAt, attempt, now)
	if !ok {
		d.Outcome = store.WebhookFailed
		return EventFailed, fmt.Sprintf("%s: %s; retries over (%s after the first attempt)", what, res.err,
			n.cfg.Schedule.Window)
	}
	d.NextAttemptAt = next
	return EventRetrying, fmt.Sprintf("%s: %s; next attempt at %s", what, res.err, next.UTC().Format(time.RFC3339))
}

// metricOutcome is the aiprod_webhook_deliveries_total outcome of an
// attempt that left the delivery in state o.
func metricOutcome(o store.WebhookOutcome, res result) string {
	switch {
	case res.delivered():
		return "delivered"
	case o == store.WebhookPending:
		return "retried"
	default:
		return "failed"
	}
}
