package alert

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what an alert is about; the names are those of DESIGN.md's
// notification settings ("events").
type Kind string

// The kinds of alert.
const (
	BudgetThreshold Kind = "budget.threshold"
	// BudgetForecast: the projection of a project's spend for the month
	// passed its limit (budget.ForecastEvent), announced once per period.
	BudgetForecast  Kind = "budget.forecast"
	CircuitOpen     Kind = "backend.circuit_open"
	CircuitClosed   Kind = "backend.circuit_closed"
	AllBackendsDown Kind = "backend.all_down"
	// BackendAnomaly: a backend's latency, error rate or cost accuracy
	// turned anomalous, or back to normal (learn.AnomalyEvent).
	BackendAnomaly Kind = "backend.anomaly"
	JobFailed      Kind = "job.failed"
	DLQMessage     Kind = "dlq.message"
)

// Kinds lists every kind, in the order settings show them.
var Kinds = []Kind{BudgetThreshold, BudgetForecast, CircuitOpen, CircuitClosed, AllBackendsDown, BackendAnomaly, JobFailed, DLQMessage}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Severity orders alerts for display: a red or a yellow bar, or none.
type Severity int

// The severities.
const (
	Info Severity = iota
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Critical:
		return "critical"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// Field is one labelled value of an alert (project, backend, job id…).
type Field struct {
	Label string
	Value string
}

// Alert is one message to operators, independent of the channel.
type Alert struct {
	Kind     Kind
	Severity Severity
	Project  string // empty for a system-wide alert
	Subject  string // one line: the email subject, the Slack header, the SMS's start
	Text     string // a short paragraph
	Fields   []Field
	At       time.Time
}

// Validate reports an alert that no channel can render.
func (a Alert) Validate() error {
	switch {
	case !a.Kind.Valid():
		return fmt.Errorf("alert kind %q is not one of %v", a.Kind, Kinds)
	case a.Subject == "":
		return errors.New("alert subject is empty")
	case a.At.IsZero():
		return errors.New("alert time is zero")
	}
	return nil
}

// Sender delivers alerts on one channel.
type Sender interface {
	// Channel names the channel for logs and events: "slack", "email", "sms".
	Channel() string
	// Send delivers a with one request (no retry), or returns a classified
	// error that names no secret.
	Send(ctx context.Context, a Alert) error
}
