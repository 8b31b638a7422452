package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Verdict is what happens to a message once handled.
type Verdict int

// The verdicts.
const (
	// VerdictAck: the message is done with and will not be delivered again.
	VerdictAck Verdict = iota
	// VerdictNack: deliver the message again (after the subscription's
	// retry backoff, and after Outcome.Delay when set).
	VerdictNack
	// VerdictDeadLetter: publish the message to the dead-letter topic with
	// Outcome.Reason, then ack it.
	VerdictDeadLetter
)

// String is the verdict's label in logs and metrics: ack, nack, dead_letter.
func (v Verdict) String() string {
	switch v {
	case VerdictAck:
		return "ack"
	case VerdictNack:
		return "nack"
	default:
		return "dead_letter"
	}
}

// Outcome is what a Handler decided about one message. The zero value acks.
type Outcome struct {
	Verdict Verdict
	// Reason says why the message was nacked or dead-lettered (the
	// dead-letter topic's reason attribute).
	Reason string
	// Err is the cause of a nack, recorded on the span.
	Err error
	// Delay, on a nack, holds the message that long before nacking it, so
	// that it is not redelivered sooner (pull mode; the queue extends the
	// lease meanwhile).
	Delay time.Duration
	// Quiet marks an expected nack (waiting for a slot, another worker, a
	// later step): logged at info, and the span is not an error.
	Quiet bool
	// Pending marks a quiet nack of work that goes on (a push step whose
	// time ran out while the generation still runs).
	Pending bool
	// Panic is the recovered panic value when the handler panicked.
	Panic any

	// next, set by Resume, goes on with the handling after the delay
	// after.
	next  func(ctx context.Context) Outcome
	after time.Duration
}

// Ack returns the outcome that acknowledges the message.
func Ack() Outcome { return Outcome{Verdict: VerdictAck} }

// Nack returns the outcome that asks for redelivery because of err.
func Nack(err error) Outcome { return Outcome{Verdict: VerdictNack, Reason: err.Error(), Err: err} }

// NackAfter is Nack after holding the message for delay.
func NackAfter(delay time.Duration, err error) Outcome {
	o := Nack(err)
	o.Delay = delay
	return o
}

// Wait returns a quiet nack: the message is redelivered because the work
// must wait for something that is expected to come (see Outcome.Quiet).
func Wait(err error) Outcome {
	o := Nack(err)
	o.Quiet = true
	return o
}

// Later returns a quiet, pending nack: the work goes on and the message
// comes back to continue it (see Outcome.Pending).
func Later(reason string) Outcome {
	return Outcome{Verdict: VerdictNack, Reason: reason, Quiet: true, Pending: true}
}

// Resume returns an outcome that is not a decision yet: the message stays
// in hand (the queue extends its lease), the Consumer waits for after (less
// when its ctx is done first), then calls next on a goroutine of its own,
// with the same span, logger and panic recovery as the Handler, and goes on
// with what next returns, which may resume again. next must return soon
// once ctx is done.
//
// It is for handlers that wait long between short bursts of work, such as
// the worker polling a generation for minutes: the goroutine that holds
// the message then waits at the top of a shallow stack, which the garbage
// collector shrinks and no burst grows again, instead of at the bottom of
// the handler's calls, in a stack as deep as its deepest burst.
func Resume(after time.Duration, next func(ctx context.Context) Outcome) Outcome {
	return Outcome{Verdict: VerdictNack, Reason: "resumed later", next: next, after: after}
}

// Resumes reports whether o is a Resume: not a decision yet.
func (o Outcome) Resumes() bool { return o.next != nil }

// DeadLetter returns the outcome that dead-letters the message with a
// formatted reason.
func DeadLetter(format string, args ...any) Outcome {
	return Outcome{Verdict: VerdictDeadLetter, Reason: fmt.Sprintf(format, args...)}
}

// StoreError maps an error of a store call about what: a permanent one (a
// bug, a value the store refuses) dead-letters, anything else is retried by
// redelivery.
func StoreError(what string, err error) Outcome {
	if errors.Is(err, errclass.Permanent) {
		return DeadLetter("%s: %v", what, err)
	}
	return Nack(fmt.Errorf("%s: %w", what, err))
}

// Acked reports whether the message was acknowledged (also after a
// dead-letter publish).
func (o Outcome) Acked() bool { return o.Verdict != VerdictNack }
