package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Threshold events on aiprod-events.
const (
	// EventTypeThreshold is the "type" of a threshold event, in its data and
	// in its message attribute AttrEventType.
	EventTypeThreshold = "budget_threshold"
	// EventTypeForecast is the "type" of a forecast event (ForecastEvent),
	// in its data and in AttrEventType: DESIGN's name, which is also the
	// operator-alert kind that announces it.
	EventTypeForecast = "budget.forecast"
	// AttrEventType is the message attribute that tells budget events from
	// job lifecycle events (which have no such attribute) on aiprod-events.
	AttrEventType = queue.AttrEventType
)

// ThresholdEvent is the data of a threshold event published to
// aiprod-events:
//
//	{"type":"budget_threshold","project_id":"dev","period":"2026-11","threshold":80,
//	 "spent_usd":30,"reserved_usd":10.5,"limit_usd":50}
//
// Spent plus reserved is what reached the threshold.
type ThresholdEvent struct {
	Type      string       `json:"type"`
	ProjectID string       `json:"project_id"`
	Period    string       `json:"period"`
	Threshold int          `json:"threshold"`
	Spent     money.Micros `json:"spent_usd"`
	Reserved  money.Micros `json:"reserved_usd"`
	Limit     money.Micros `json:"limit_usd"`
}

// ForecastEvent is the data of a forecast event published to
// aiprod-events when the projection of a project's spend for the month
// (package forecast) first passes its monthly limit, once per period:
//
//	{"type":"budget.forecast","project_id":"dev","period":"2026-12","spent_usd":812.4,
//	 "projected_usd":2610.5,"low_usd":2390,"high_usd":2830,"limit_usd":2500,
//	 "exhaustion_at":"2026-12-29T10:00:00Z"}
type ForecastEvent struct {
	Type         string       `json:"type"`
	ProjectID    string       `json:"project_id"`
	Period       string       `json:"period"`
	Spent        money.Micros `json:"spent_usd"`
	Projected    money.Micros `json:"projected_usd"`
	Low          money.Micros `json:"low_usd"`
	High         money.Micros `json:"high_usd"`
	Limit        money.Micros `json:"limit_usd"`
	ExhaustionAt *time.Time   `json:"exhaustion_at"`
}

// Event returns the event that announces c.
func (c Crossing) Event() ThresholdEvent {
	return ThresholdEvent{
		Type: EventTypeThreshold, ProjectID: c.ProjectID, Period: c.Period, Threshold: c.Threshold,
		Spent: c.Spent, Reserved: c.Reserved, Limit: c.Limit,
	}
}

// PublishThresholds publishes one event per crossing to aiprod-events, with
// attributes project_id and event_type, in a producer span of ctx's trace.
// Call it after the transaction that returned the crossings committed. It
// tries every crossing and returns the errors joined.
//
// Delivery is at most once: the crossing is recorded (Period.Notified) in
// the transaction, so an event whose publish fails is not published again.
// Callers log the error.
func PublishThresholds(ctx context.Context, pub queue.Publisher, crossings []Crossing) error {
	var errs []error
	for _, c := range crossings {
		if err := queue.PublishEvent(ctx, telemetry.Traced(pub), EventTypeThreshold, c.ProjectID, c.Event()); err != nil {
			errs = append(errs, fmt.Errorf("publish %d%% threshold of project %s in %s: %w", c.Threshold, c.ProjectID, c.Period, err))
		}
	}
	return errors.Join(errs...)
}
