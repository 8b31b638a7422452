// Package circuit is the pure state machine of a backend's circuit breaker.
//
// Three consecutive infrastructure failures open the circuit. After a
// cool-down, exactly one probe is let through (half-open); its success closes
// the circuit, its failure opens it again. A probe that never reports back
// (its worker crashed) is given up after ProbeTimeout and another probe may
// go. Content-safety rejections and permanent request errors are not
// infrastructure failures and must not be reported here.
//
// The Breaker is a value; callers store it (in Firestore, shared by every
// router and worker instance) and apply these functions inside a transaction.
package circuit

import (
	"regexp"
	"time"
)

// State is the circuit's state.
type State string

// The states.
const (
	Closed   State = "closed"
	Open     State = "open"
	HalfOpen State = "half_open"
)

// Config tunes the breaker.
type Config struct {
	FailureThreshold int           // consecutive failures that open it
	Cooldown         time.Duration // open → half-open after this
	ProbeTimeout     time.Duration // a half-open probe silent this long is given up
}

// Defaults.
const (
	FailureThresholdDefault = 3
	CooldownDefault         = 30 * time.Second
	ProbeTimeoutDefault     = 10 * time.Minute
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = FailureThresholdDefault
	}
	if c.Cooldown <= 0 {
		c.Cooldown = CooldownDefault
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = ProbeTimeoutDefault
	}
	return c
}

// Breaker is the stored state of one backend's circuit. The zero value is a
// closed circuit with no failures.
type Breaker struct {
	State               State     `json:"circuit" firestore:"circuit"`
	ConsecutiveFailures int       `json:"consecutive_failures" firestore:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty" firestore:"last_error"`
	OpenedAt            time.Time `json:"opened_at,omitzero" firestore:"opened_at"`
	ProbeStartedAt      time.Time `json:"probe_started_at,omitzero" firestore:"probe_started_at"`
}

// Current returns the state, reading the zero value as Closed.
func (b Breaker) Current() State {
	if b.State == "" {
		return Closed
	}
	return b.State
}

// Decision says whether a job may go to the backend now.
type Decision int

// The decisions.
const (
	Deny  Decision = iota // circuit open (or a probe is already out)
	Allow                 // circuit closed
	Probe                 // the one half-open probe: the caller must store the returned Breaker before sending
)

// Peek tells what Acquire would decide at now, without changing anything.
// Routers use it to filter candidates before they take a probe.
func (b Breaker) Peek(now time.Time, cfg Config) Decision {
	cfg = cfg.WithDefaults()
	switch b.Current() {
	case Closed:
		return Allow
	case Open:
		if now.Sub(b.OpenedAt) >= cfg.Cooldown {
			return Probe
		}
		return Deny
	default: // HalfOpen
		if b.ProbeStartedAt.IsZero() || now.Sub(b.ProbeStartedAt) >= cfg.ProbeTimeout {
			return Probe
		}
		return Deny
	}
}

// Acquire decides at now and returns the breaker to store: taking a probe
// moves it to half-open with the probe's start time.
func (b Breaker) Acquire(now time.Time, cfg Config) (Breaker, Decision) {
	d := b.Peek(now, cfg)
	if d == Probe {
		b.State = HalfOpen
		b.ProbeStartedAt = now
	}
	return b, d
}

// Success records a successful call: the circuit closes.
func (b Breaker) Success() Breaker {
	b.State = Closed
	b.ConsecutiveFailures = 0
	b.ProbeStartedAt = time.Time{}
	return b
}

// Failure records an infrastructure failure at now. The threshold-th
// consecutive failure, or any failure of a half-open probe, opens the circuit.
// msg becomes LastError as SharedText makes it.
func (b Breaker) Failure(now time.Time, msg string, cfg Config) Breaker {
	cfg = cfg.WithDefaults()
	b.ConsecutiveFailures++
	b.LastError = SharedText(msg)
	if b.Current() == HalfOpen || b.ConsecutiveFailures >= cfg.FailureThreshold {
		if b.Current() != Open {
			b.OpenedAt = now
		}
		b.State = Open
		b.ProbeStartedAt = time.Time{}
	}
	return b
}

// jobIDs matches job ids (UUIDs) in a message.
var jobIDs = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)

// SharedText is msg as every project may see it (a backend's LastError is
// shown by GET /v1/backends to all): job ids become "<job>", so that no
// project learns another's jobs.
func SharedText(msg string) string { return jobIDs.ReplaceAllString(msg, "<job>") }

// EventTypeCircuit is the event_type of the event published to
// aiprod-events when a circuit opens or closes.
const EventTypeCircuit = "backend_circuit"

// Event announces that a backend's circuit opened or closed:
//
//	{"type":"backend_circuit","backend":"fal","state":"open","previous":"closed",
//	 "consecutive_failures":3,"last_error":"backend_unavailable: …","at":"2026-12-04T10:30:00Z"}
//
// LastError is SharedText: no job or project names, as every project may
// be told.
type Event struct {
	Type                string    `json:"type"`
	Backend             string    `json:"backend"`
	State               State     `json:"state"`
	Previous            State     `json:"previous"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	At                  time.Time `json:"at"`
}

// Transition returns the event announcing the change from before to after
// of backend's breaker: it opened (from closed) or closed (from open or
// half-open). A failed probe re-opening the circuit is no event, so a
// backend that stays down is announced once, not every cool-down.
func Transition(backend string, before, after Breaker, at time.Time) (Event, bool) {
	prev, next := before.Current(), after.Current()
	opened := prev == Closed && next == Open
	closed := prev != Closed && next == Closed
	if !opened && !closed {
		return Event{}, false
	}
	return Event{
		Type: EventTypeCircuit, Backend: backend, State: next, Previous: prev,
		ConsecutiveFailures: after.ConsecutiveFailures, LastError: SharedText(after.LastError), At: at.UTC(),
	}, true
}
