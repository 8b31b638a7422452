package budget

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// EventTypeLedgerEntry is the "type" of a ledger entry event (LedgerEvent),
// in its data and in the message attribute AttrEventType. No consumer of
// aiprod-events acts on it: it is there for the warehouse (infra/README.md,
// "Warehouse"), which the BigQuery subscription fills.
const EventTypeLedgerEntry = queue.EventTypeLedgerEntry

// ledgerPublishConcurrency bounds the publishes of one round in flight: a
// round of RollBatchDefault entries publishes in a few seconds.
const ledgerPublishConcurrency = 64

// LedgerEvent is the data of a ledger entry event: one settled attempt, as
// its store.LedgerEntry says, with money both in USD (a JSON number, as
// everywhere in the API) and in integer micro-USD, which SQL sums exactly:
//
//	{"type":"cost.ledger_entry","id":"5f0c…-2","project_id":"dev","user_id":"alice",
//	 "job_id":"5f0c…","attempt":2,"backend":"luma","model":"ray-2","status":"failed",
//	 "final":true,"error_code":"backend_failed","shape":{"tier":"standard",
//	 "resolution":"720p","aspect_ratio":"16:9","seconds":5},"period":"2026-12",
//	 "seconds":5,"estimate_usd":0.71,"estimate_micros":710000,"cost_usd":0.35,
//	 "cost_micros":350000,"generation_seconds":42.5,"settled_at":"2026-12-04T10:00:00Z"}
//
// ID is the entry's id, {job_id}-{attempt}: the same in every copy of the
// event (delivery is at least once), so SQL removes duplicates by it.
type LedgerEvent struct {
	Type           string            `json:"type"`
	ID             string            `json:"id"`
	ProjectID      string            `json:"project_id"`
	UserID         string            `json:"user_id,omitempty"`
	JobID          string            `json:"job_id"`
	Attempt        int               `json:"attempt"`
	Backend        string            `json:"backend"`
	Model          string            `json:"model,omitempty"`
	Status         job.AttemptStatus `json:"status"`
	Final          bool              `json:"final"` // the settlement ended the job
	ErrorCode      string            `json:"error_code,omitempty"`
	Shape          store.Shape       `json:"shape"` // what the job asked for; {} in entries from before shapes
	Period         string            `json:"period"`
	Seconds        int               `json:"seconds"` // billed duration
	Estimate       money.Micros      `json:"estimate_usd"`
	EstimateMicros int64             `json:"estimate_micros"`
	Cost           money.Micros      `json:"cost_usd"`
	CostMicros     int64             `json:"cost_micros"`
	// GenerationSeconds is the attempt's time at its backend, submit to
	// end (0 when it was never submitted).
	GenerationSeconds float64   `json:"generation_seconds"`
	SettledAt         time.Time `json:"settled_at"`
}

// LedgerEventOf returns the event of a ledger entry.
func LedgerEventOf(e store.LedgerEntry) LedgerEvent {
	return LedgerEvent{
		Type: EventTypeLedgerEntry, ID: e.ID, ProjectID: e.ProjectID, UserID: e.UserID, JobID: e.JobID,
		Attempt: e.Attempt, Backend: e.Backend, Model: e.Model, Status: e.Status, Final: e.Final,
		ErrorCode: e.ErrorCode, Shape: e.Shape, Period: e.Period, Seconds: e.Seconds,
		Estimate: e.Estimate, EstimateMicros: int64(e.Estimate), Cost: e.Cost, CostMicros: int64(e.Cost),
		GenerationSeconds: e.Generation.Seconds(), SettledAt: e.At.UTC(),
	}
}

// PublishLedger publishes one cost.ledger_entry event per entry to
// aiprod-events (attributes event_type and project_id, a producer span
// each), several at once, and returns the first error once every publish
// ended. A nil pub publishes nothing.
//
// The roller calls it with a round's entries before the round's
// transaction, and a failure ends the round before it writes anything: an
// entry passes the usage watermark, after which no round reads it again,
// only once its event was published. Delivery is therefore at least once:
// a round that fails or races after publishing (another roller moved the
// watermark first) leaves copies of events that the round that commits
// publishes again, which share their id. A publish after the commit would
// instead lose, for good, the events of a round whose process stopped or
// whose publish failed in between, a hole that the warehouse could not
// even see.
func PublishLedger(ctx context.Context, pub queue.Publisher, entries []store.LedgerEntry) error {
	if pub == nil || len(entries) == 0 {
		return nil
	}
	// One trace per round: each publish's producer span is a child of
	// this one, not a trace of its own.
	ctx, span := telemetry.Tracer().Start(ctx, "publish ledger entries",
		trace.WithAttributes(attribute.Int("aiprod.ledger_entries", len(entries))))
	defer span.End()
	pub = telemetry.Traced(pub)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ledgerPublishConcurrency)
	for _, e := range entries {
		g.Go(func() error {
			if err := queue.PublishEvent(gctx, pub, EventTypeLedgerEntry, e.ProjectID, LedgerEventOf(e)); err != nil {
				return fmt.Errorf("ledger entry %s: %w", e.ID, err)
			}
			return nil
		})
	}
	err := g.Wait()
	if err != nil {
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}
