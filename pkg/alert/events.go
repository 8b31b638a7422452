package alert

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/learn"
	"github.com/aiprod/aiprod/pkg/queue"
)

// FromEvent returns the alert an aiprod-events message raises, if any: a
// budget threshold, a budget forecast past the limit, a circuit opening or closing, a backend's anomaly
// starting or ending, a dead letter, or a job
// that failed (other lifecycle events raise none). Alert.Project is set
// for a project's alerts and empty for system-wide ones. now stamps
// events that carry no time. An undecodable event is an
// errclass.Permanent error.
func FromEvent(m *queue.Message, now time.Time) (Alert, bool, error) {
	switch t := m.Attr(queue.AttrEventType); t {
	case budget.EventTypeThreshold:
		var ev budget.ThresholdEvent
		if err := decode(m.Data, &ev, t); err != nil {
			return Alert{}, false, err
		}
		return thresholdAlert(ev, now), true, nil
	case budget.EventTypeForecast:
		var ev budget.ForecastEvent
		if err := decode(m.Data, &ev, t); err != nil {
			return Alert{}, false, err
		}
		return forecastAlert(ev, now), true, nil
	case circuit.EventTypeCircuit:
		var ev circuit.Event
		if err := decode(m.Data, &ev, t); err != nil {
			return Alert{}, false, err
		}
		return circuitAlert(ev), true, nil
	case learn.EventTypeAnomaly:
		var ev learn.AnomalyEvent
		if err := decode(m.Data, &ev, t); err != nil {
			return Alert{}, false, err
		}
		return anomalyAlert(ev), true, nil
	case consumer.EventTypeDeadLetter:
		var ev consumer.DeadLetterEvent
		if err := decode(m.Data, &ev, t); err != nil {
			return Alert{}, false, err
		}
		return deadLetterAlert(ev), true, nil
	case "":
		lc, err := dispatch.DecodeLifecycle(m.Data)
		if err != nil {
			return Alert{}, false, err
		}
		if lc.Status != job.StatusFailed {
			return Alert{}, false, nil
		}
		return jobFailedAlert(lc, now), true, nil
	default:
		return Alert{}, false, nil // a kind of event this version does not alert on
	}
}

func decode(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return errclass.Wrap(errclass.Permanent, err, what+" event: invalid JSON")
	}
	return nil
}

func thresholdAlert(ev budget.ThresholdEvent, now time.Time) Alert {
	sev := Info
	switch {
	case ev.Threshold >= 100:
		sev = Critical
	case ev.Threshold >= 80:
		sev = Warning
	}
	text := fmt.Sprintf("Project %s has committed $%s of its $%s monthly budget for %s.", ev.ProjectID,
		(ev.Spent + ev.Reserved).USD(), ev.Limit.USD(), ev.Period)
	if ev.Threshold >= 100 {
		text += " New jobs are refused until the budget is raised or the month ends."
	}
	return Alert{
		Kind: BudgetThreshold, Severity: sev, Project: ev.ProjectID, At: now.UTC(),
		Subject: fmt.Sprintf("Budget %d%% used — project %s (%s)", ev.Threshold, ev.ProjectID, ev.Period),
		Text:    text,
		Fields: []Field{{"Spent", "$" + ev.Spent.USD()}, {"Reserved", "$" + ev.Reserved.USD()},
			{"Limit", "$" + ev.Limit.USD()}, {"Period", ev.Period}},
	}
}

func forecastAlert(ev budget.ForecastEvent, now time.Time) Alert {
	text := fmt.Sprintf("At its pace, project %s will spend %s by the end of %s (likely %s to %s), past its %s monthly budget.",
		ev.ProjectID, ev.Projected.Cents(), ev.Period, ev.Low.Cents(), ev.High.Cents(), ev.Limit.Cents())
	exhaustion := "-"
	switch at := ev.ExhaustionAt; {
	case at == nil:
	case at.After(now):
		exhaustion = at.UTC().Format("2006-01-02 15:04 UTC")
		text += " The budget runs out around " + exhaustion + "; new jobs are refused from then on."
	default:
		exhaustion = "already"
		text += " The budget is already spent: new jobs are refused."
	}
	text += " See `aiprod forecast` for the projection and what would save money."
	return Alert{
		Kind: BudgetForecast, Severity: Warning, Project: ev.ProjectID, At: now.UTC(),
		Subject: fmt.Sprintf("Budget projected to run out — project %s (%s)", ev.ProjectID, ev.Period),
		Text:    text,
		Fields: []Field{{"Spent", ev.Spent.Cents()}, {"Projected", ev.Projected.Cents()},
			{"Limit", ev.Limit.Cents()}, {"Runs out", exhaustion}, {"Period", ev.Period}},
	}
}

func circuitAlert(ev circuit.Event) Alert {
	if ev.State == circuit.Open {
		a := Alert{
			Kind: CircuitOpen, Severity: Critical, At: ev.At,
			Subject: fmt.Sprintf("Backend %s is failing: circuit opened", ev.Backend),
			Text:    fmt.Sprintf("%d consecutive failures. Jobs go to other backends until a probe succeeds.", ev.ConsecutiveFailures),
			Fields:  []Field{{"Backend", ev.Backend}},
		}
		if ev.LastError != "" {
			a.Fields = append(a.Fields, Field{"Last error", ev.LastError})
		}
		return a
	}
	return Alert{
		Kind: CircuitClosed, Severity: Info, At: ev.At,
		Subject: fmt.Sprintf("Backend %s recovered: circuit closed", ev.Backend),
		Text:    "A probe succeeded; routing uses the backend again.",
		Fields:  []Field{{"Backend", ev.Backend}},
	}
}

// anomalyNames are how alerts name the signals.
var anomalyNames = map[string]string{
	learn.SignalLatency: "generation time", learn.SignalErrorRate: "error rate", learn.SignalCostAccuracy: "cost accuracy",
}

// anomalyFigure shows a signal's value: seconds, a percentage or a ratio.
func anomalyFigure(signal string, v float64) string {
	switch signal {
	case learn.SignalLatency:
		return fmt.Sprintf("%.1f s", v)
	case learn.SignalErrorRate:
		return fmt.Sprintf("%.1f%%", 100*v)
	default:
		return fmt.Sprintf("%.2f× the estimate", v)
	}
}

func anomalyAlert(ev learn.AnomalyEvent) Alert {
	name := cmp.Or(anomalyNames[ev.Signal], ev.Signal)
	now, usual := anomalyFigure(ev.Signal, ev.Value), anomalyFigure(ev.Signal, ev.Baseline)
	fields := []Field{{"Backend", ev.Backend}, {"Signal", name}, {"Last 15 minutes", now}, {"Usual", usual},
		{"Score", fmt.Sprintf("%.1f", ev.Score)}, {"Samples", fmt.Sprint(ev.Samples)}}
	if ev.State == learn.AnomalyEnded && ev.Stale {
		return Alert{
			Kind: BackendAnomaly, Severity: Info, At: ev.At,
			Subject: fmt.Sprintf("Backend %s: %s no longer judged", ev.Backend, name),
			Text: fmt.Sprintf("No attempt on it for an hour (drained, or not chosen): its %s, anomalous since %s, is no longer judged.",
				name, ev.Since.UTC().Format("15:04 UTC")),
			Fields: fields[:2],
		}
	}
	if ev.State == learn.AnomalyEnded {
		return Alert{
			Kind: BackendAnomaly, Severity: Info, At: ev.At,
			Subject: fmt.Sprintf("Backend %s: %s back to normal", ev.Backend, name),
			Text:    fmt.Sprintf("Its %s is %s again (usually %s); anomalous since %s.", name, now, usual, ev.Since.UTC().Format("15:04 UTC")),
			Fields:  fields,
		}
	}
	return Alert{
		Kind: BackendAnomaly, Severity: Warning, At: ev.At,
		Subject: fmt.Sprintf("Backend %s: %s anomalous", ev.Backend, name),
		Text: fmt.Sprintf("Over the last 15 minutes its %s was %s, against %s usually (robust score %.1f). "+
			"Routing already weighs what it learns; see `aiprod backends`.", name, now, usual, ev.Score),
		Fields: fields,
	}
}

func deadLetterAlert(ev consumer.DeadLetterEvent) Alert {
	a := Alert{
		Kind: DLQMessage, Severity: Warning, Project: ev.ProjectID, At: ev.At,
		Subject: "Message dead-lettered from " + ev.Subscription,
		Text:    "Inspect it with `aiprod dlq list`; replay it with `aiprod dlq replay` once the cause is fixed.",
		Fields:  []Field{{"Reason", ev.Reason}, {"Dead-letter topic", ev.DeadLetterTopic}},
	}
	if ev.JobID != "" {
		a.Fields = append(a.Fields, Field{"Job", ev.JobID})
	}
	return a
}

func jobFailedAlert(lc dispatch.Lifecycle, now time.Time) Alert {
	a := Alert{
		Kind: JobFailed, Severity: Warning, Project: lc.ProjectID, At: now.UTC(),
		Subject: "Job " + lc.JobID + " failed",
		Fields:  []Field{{"Job", lc.JobID}},
	}
	if lc.Error != nil {
		a.Subject += ": " + lc.Error.Code
		a.Text = lc.Error.Message
		a.Fields = append(a.Fields, Field{"Error", lc.Error.Code})
	}
	a.Text = strings.TrimSpace(a.Text + "\nSee its timeline with `aiprod trace " + lc.JobID + "`.")
	return a
}

// AllDown is the system-wide alert raised when every enabled backend's
// circuit is open: no job can be routed.
func AllDown(backends []string, at time.Time) Alert {
	return Alert{
		Kind: AllBackendsDown, Severity: Critical, At: at.UTC(),
		Subject: "Every backend is down",
		Text:    "Every enabled backend's circuit is open: new jobs wait or fail with no_backend until one recovers.",
		Fields:  []Field{{"Backends", strings.Join(backends, ", ")}},
	}
}
