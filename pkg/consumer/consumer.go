package consumer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Handler decides about one received message. It must not call m.Ack or
// m.Nack: the Consumer does, according to the Outcome returned.
type Handler func(ctx context.Context, m *queue.Message) Outcome

// Defaults of Config.
const (
	// MaxPanicsDefault is how many panics on one message are nacked before
	// it is dead-lettered.
	MaxPanicsDefault = 3
	// ReasonPanic is the dead-letter reason of a message whose handler
	// panicked MaxPanics times; the attribute AttrPanic holds the value.
	ReasonPanic = "panic"
	// AttrPanic is the dead-letter attribute holding the panic value.
	AttrPanic = queue.AttrPanic
	// panicMemory bounds how many messages' panic counts are remembered.
	panicMemory = 10_000
)

// Config configures a Consumer.
type Config struct {
	// Subscription is the subscription served (required): it names the
	// span and the logs, and it is the source_subscription of dead letters.
	Subscription string
	// Topic is the subscription's topic: the span's messaging destination.
	Topic string
	// DeadLetterTopic receives refused messages (required).
	DeadLetterTopic string
	// Publisher publishes dead letters (required).
	Publisher queue.Publisher
	// Logger is the base logger. nil: slog.Default().
	Logger *slog.Logger
	// MaxPanics: a message whose handler panicked this many times is
	// dead-lettered with reason "panic". 0: MaxPanicsDefault.
	MaxPanics int
	// Receive is the flow control of Run.
	Receive queue.ReceiveOptions
	// Metrics counts the messages handled by outcome. Nil:
	// metrics.Default().
	Metrics *metrics.Recorder
	// AnnounceDeadLetters publishes a dlq_message event (DeadLetterEvent)
	// to aiprod-events after each dead letter, so the notifier can alert
	// operators. Best effort: a failed publish is logged.
	AnnounceDeadLetters bool
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxPanics <= 0 {
		c.MaxPanics = MaxPanicsDefault
	}
	c.Receive = c.Receive.WithDefaults()
	return c
}

// Validate reports the first missing required field.
func (c Config) Validate() error {
	switch {
	case c.Subscription == "":
		return errors.New("consumer: Config.Subscription is required")
	case c.DeadLetterTopic == "":
		return errors.New("consumer: Config.DeadLetterTopic is required")
	case c.Publisher == nil:
		return errors.New("consumer: Config.Publisher is required")
	}
	return nil
}

// Consumer serves one subscription with a Handler. Safe for concurrent use.
type Consumer struct {
	cfg Config
	h   Handler

	mu     sync.Mutex
	panics map[string]int // by message key
}

// New returns a Consumer of cfg (defaults applied, then validated).
func New(cfg Config, h Handler) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("consumer: nil Handler")
	}
	return &Consumer{cfg: cfg, h: h, panics: map[string]int{}}, nil
}

// Run receives the subscription from s until ctx is done, handling every
// message with Handle; it returns nil then, after every message in hand was
// acked or nacked, or the receive error.
func (c *Consumer) Run(ctx context.Context, s queue.Subscriber) error {
	err := s.Receive(ctx, c.cfg.Subscription, c.cfg.Receive, func(ctx context.Context, m *queue.Message) {
		c.Handle(ctx, m)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("receive %s: %w", c.cfg.Subscription, err)
	}
	return nil
}

type loggerKey struct{}

// Logger returns the logger of the message being handled, with its fields
// (see the package doc); slog.Default() outside a handler.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// Handle handles one message: span, logs, the handler (panics recovered)
// and its continuations (Resume), the dead-letter publish, then m.Ack or
// m.Nack. It returns the outcome applied: a dead-letter whose publish
// failed comes back as a nack.
//
// Its frame and those of what it waits in are kept small on purpose: the
// goroutine that holds a resumed message waits in resume, under Handle
// only, and the shallower that is, the smaller the stack the garbage
// collector shrinks it to (docs/perf.md, BenchmarkWorkerMemory).
func (c *Consumer) Handle(ctx context.Context, m *queue.Message) Outcome {
	ctx, span, spanAttrs := c.start(ctx, m)
	defer span.End()
	var o Outcome
	c.call(ctx, m, nil, &o)
	if o.next != nil {
		c.resume(ctx, m, &o)
	}
	c.finish(ctx, span, spanAttrs, m, &o)
	return o
}

// start opens the message's span and puts its logger in ctx. The span's
// attributes are set once, with the outcome (telemetry.StartConsumerLate;
// handlers set none of their own): start returns them, for finish.
func (c *Consumer) start(ctx context.Context, m *queue.Message) (context.Context, trace.Span, []attribute.KeyValue) {
	var buf [5]attribute.KeyValue // on the stack: StartConsumerLate copies it
	kv := append(appendMessageAttributes(buf[:0], m), telemetry.AttrDeliveryAttempt.Int(m.DeliveryAttempt))
	if c.cfg.Topic != "" {
		kv = append(kv, telemetry.AttrMessagingDestination.String(c.cfg.Topic))
	}
	ctx, span, spanAttrs := telemetry.StartConsumerLate(ctx, c.cfg.Subscription, m.ID, m.Attributes, 2, kv...)
	return context.WithValue(ctx, loggerKey{}, messageLogger(c.cfg.Logger, m)), span, spanAttrs
}

// finish applies the final outcome o, as applied (see Handle), and records
// it: on the span, with spanAttrs, the span's attributes from start.
func (c *Consumer) finish(ctx context.Context, span trace.Span, spanAttrs []attribute.KeyValue, m *queue.Message, o *Outcome) {
	log := Logger(ctx)
	if o.Panic != nil {
		*o = c.afterPanic(ctx, log, m, *o)
	}
	*o = c.apply(ctx, log, span, &spanAttrs, m, *o)
	span.SetAttributes(append(spanAttrs, attribute.String("aiprod.outcome", o.Verdict.String()))...)
	c.cfg.Metrics.QueueMessage(ctx, c.cfg.Subscription, o.Verdict.String())
}

// resume carries out resumed outcomes (Resume) until *o is a decision. It
// waits here, where the stack of the goroutine holding the message is
// shallow, and runs each continuation on a goroutine of its own, so that
// the continuation's calls never deepen that stack. (It waits on a
// channel receive, not a select, whose frames are deeper; so is Handle's
// frame kept small.)
func (c *Consumer) resume(ctx context.Context, m *queue.Message, o *Outcome) {
	timer := time.NewTimer(o.after)
	defer timer.Stop()
	// The end of ctx fires the timer: it cuts a wait short, and a wait
	// that starts later (the timer reset) sees ctx done and does not wait.
	stop := context.AfterFunc(ctx, func() { timer.Reset(0) })
	defer stop()
	results := make(chan Outcome)
	for {
		if o.after > 0 && ctx.Err() == nil {
			<-timer.C
		}
		next := o.next
		go func() {
			r := Nack(errNoOutcome) // unless next returns (runtime.Goexit)
			defer func() { results <- r }()
			c.call(ctx, m, next, &r)
		}()
		if *o = <-results; o.next == nil {
			return
		}
		timer.Reset(o.after)
	}
}

// errNoOutcome nacks a message whose continuation ended its goroutine
// without returning.
var errNoOutcome = errors.New("continuation exited without an outcome")

// call runs the handler, or next when set, into *o, turning a panic into
// a nack that carries it.
func (c *Consumer) call(ctx context.Context, m *queue.Message, next func(context.Context) Outcome, o *Outcome) {
	defer func() {
		if v := recover(); v != nil {
			Logger(ctx).ErrorContext(ctx, "handler panicked; message nacked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			*o = Nack(fmt.Errorf("handler panicked: %v", v))
			o.Panic = v
		}
	}()
	if next != nil {
		*o = next(ctx)
		return
	}
	*o = c.h(ctx, m)
}

// afterPanic counts the panic and dead-letters the message at MaxPanics.
func (c *Consumer) afterPanic(ctx context.Context, log *slog.Logger, m *queue.Message, o Outcome) Outcome {
	key := messageKey(m)
	c.mu.Lock()
	if len(c.panics) >= panicMemory {
		clear(c.panics)
	}
	c.panics[key]++
	n := c.panics[key]
	if n >= c.cfg.MaxPanics {
		delete(c.panics, key)
	}
	c.mu.Unlock()
	if n < c.cfg.MaxPanics {
		return o
	}
	log.ErrorContext(ctx, "message panicked its handler too often; dead-lettering it", "panics", n)
	d := DeadLetter(ReasonPanic)
	d.Panic = o.Panic
	return d
}

// apply carries out o on m and returns what was done; it adds the span's
// attributes it sets to spanAttrs.
func (c *Consumer) apply(ctx context.Context, log *slog.Logger, span trace.Span, spanAttrs *[]attribute.KeyValue, m *queue.Message, o Outcome) Outcome {
	switch o.Verdict {
	case VerdictAck:
		m.Ack()
	case VerdictNack:
		c.nack(ctx, log, span, m, o)
	default:
		span.SetStatus(codes.Error, "dead-lettered")
		*spanAttrs = append(*spanAttrs, attribute.String("aiprod.dead_letter_reason", o.Reason))
		dl := m
		if o.Panic != nil {
			dl = withAttr(m, AttrPanic, truncate(fmt.Sprint(o.Panic), 512))
		}
		if err := queue.DeadLetter(ctx, telemetry.Traced(c.cfg.Publisher), c.cfg.DeadLetterTopic, c.cfg.Subscription, dl, o.Reason); err != nil {
			log.ErrorContext(ctx, "dead-letter failed; message nacked", "reason", o.Reason, "error", err)
			m.Nack()
			return Outcome{Verdict: VerdictNack, Reason: "dead-letter failed: " + err.Error(), Err: err}
		}
		log.WarnContext(ctx, "message dead-lettered", "reason", o.Reason)
		c.announce(ctx, log, m, o.Reason)
		m.Ack()
	}
	return o
}

// EventTypeDeadLetter is the event_type of DeadLetterEvent.
const EventTypeDeadLetter = "dlq_message"

// DeadLetterEvent announces a dead-lettered message on aiprod-events:
//
//	{"type":"dlq_message","subscription":"aiprod-router","dead_letter_topic":"aiprod-jobs-dlq",
//	 "reason":"undecodable: …","message_id":"123","job_id":"…","project_id":"acme","at":"…"}
type DeadLetterEvent struct {
	Type            string    `json:"type"`
	Subscription    string    `json:"subscription"`
	DeadLetterTopic string    `json:"dead_letter_topic"`
	Reason          string    `json:"reason"`
	MessageID       string    `json:"message_id,omitempty"`
	JobID           string    `json:"job_id,omitempty"`
	ProjectID       string    `json:"project_id,omitempty"`
	At              time.Time `json:"at"`
}

// announce publishes the DeadLetterEvent of m when Config asks for it. A
// dead-lettered announcement is not announced again.
func (c *Consumer) announce(ctx context.Context, log *slog.Logger, m *queue.Message, reason string) {
	if !c.cfg.AnnounceDeadLetters || m.Attr(queue.AttrEventType) == EventTypeDeadLetter {
		return
	}
	project := m.Attr(queue.AttrProjectID)
	if !job.ValidProjectID(project) {
		project = "" // an unknown publisher's attribute: not a project to alert
	}
	ev := DeadLetterEvent{
		Type: EventTypeDeadLetter, Subscription: c.cfg.Subscription, DeadLetterTopic: c.cfg.DeadLetterTopic,
		Reason: truncate(reason, 512), MessageID: m.ID, JobID: m.Attr(queue.AttrJobID), ProjectID: project, At: time.Now().UTC(),
	}
	if err := queue.PublishEvent(ctx, telemetry.Traced(c.cfg.Publisher), EventTypeDeadLetter, project, ev); err != nil {
		log.WarnContext(ctx, "publish dead-letter event failed", "error", err)
	}
}

func (c *Consumer) nack(ctx context.Context, log *slog.Logger, span trace.Span, m *queue.Message, o Outcome) {
	switch {
	case o.Pending:
		log.InfoContext(ctx, "step done; work still in progress", "reason", o.Reason)
	case o.Quiet:
		log.InfoContext(ctx, "message nacked for redelivery", "reason", o.Reason)
	default:
		if o.Err != nil {
			span.RecordError(o.Err)
		}
		span.SetStatus(codes.Error, "nacked")
		log.WarnContext(ctx, "message nacked for redelivery", "error", o.Reason)
	}
	if o.Delay > 0 {
		_ = retry.Sleep(ctx, o.Delay) // shutdown cuts the delay short
	}
	m.Nack()
}

// appendMessageAttributes appends the span attributes taken from m's
// attributes to kv.
func appendMessageAttributes(kv []attribute.KeyValue, m *queue.Message) []attribute.KeyValue {
	kv = append(kv, telemetry.AttrJobID.String(m.Attr(queue.AttrJobID)),
		telemetry.AttrProjectID.String(m.Attr(queue.AttrProjectID)))
	if b := m.Attr(queue.AttrBackend); b != "" {
		kv = append(kv, telemetry.AttrBackend.String(b))
	}
	return kv
}

// messageKey identifies a message across its deliveries: its id, or a hash
// of its content when the queue gave none.
func messageKey(m *queue.Message) string {
	if m.ID != "" {
		return m.ID
	}
	h := sha256.New()
	h.Write(m.Data)
	for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
		fmt.Fprintf(h, "\x00%s=%s", k, m.Attributes[k])
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

func withAttr(m *queue.Message, k, v string) *queue.Message {
	c := *m
	c.Attributes = maps.Clone(m.Attributes)
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	c.Attributes[k] = v
	return &c
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
