package notifier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Stage is the timeline stage of the notifier's events.
const Stage = "notifier"

// Defaults of Config.
const (
	TimeoutDefault          = 10 * time.Second
	MaxInFlightDefault      = 64
	MaxPerHostDefault       = 8
	MaxOutstandingDefault   = 256
	HoldMaxDefault          = time.Minute
	BusyWaitDefault         = 2 * time.Second
	BusyDelayDefault        = time.Second
	LeaseMarginDefault      = 5 * time.Second
	MaxResponseBytesDefault = 64 << 10
)

// Queue is what the notifier needs of the queue: receive aiprod-notifier,
// publish dead letters and republished events.
type Queue interface {
	queue.Publisher
	queue.Subscriber
}

// Signer gives the secrets that sign a project's webhooks now, current
// first (webhooksecrets.Keyring).
type Signer interface {
	Signing(ctx context.Context, project string) ([]string, error)
}

// Config configures a Notifier.
type Config struct {
	Queue   Queue       // required
	Store   store.Store // required
	Secrets Signer      // required
	// Client sends the webhooks; nil: a plain client. Its redirects are
	// never followed (a copy with CheckRedirect refusing them is used), and
	// each attempt is bounded by Timeout whatever the client's own. Plug
	// the network guard in through its Transport.
	Client *http.Client
	// Timeout bounds one attempt, answer and body included. 0:
	// TimeoutDefault (DESIGN: no answer in 10 s is a failure).
	Timeout time.Duration
	// MaxInFlight bounds the webhook requests in flight, MaxPerHost those
	// to one host. 0: MaxInFlightDefault, MaxPerHostDefault.
	MaxInFlight, MaxPerHost int
	// Schedule is the retry schedule. Zero: ScheduleDefault.
	Schedule Schedule
	// HoldMax is the longest a message waiting for its next attempt is
	// held before it is nacked (it is redelivered, and held again, until
	// the attempt is due). 0: HoldMaxDefault.
	HoldMax time.Duration
	// BusyWait is how long a message whose destination is at its limit
	// may wait in hand for a slot (while at most MaxPerHost others wait for
	// that host); 0: BusyWaitDefault, negative: no wait. BusyDelay is about
	// how long one that got none is held before it is nacked (jittered
	// ±50%); 0: BusyDelayDefault.
	BusyWait, BusyDelay time.Duration
	// LeaseMargin is added to Timeout for the lease of an attempt: another
	// delivery of the event waits that long for it. 0: LeaseMarginDefault.
	LeaseMargin time.Duration
	// MaxResponseBytes is how much of an answer's body is read (then
	// discarded). 0: MaxResponseBytesDefault.
	MaxResponseBytes int64
	// MaxDeliveryAttempts is the subscription's dead-letter threshold: a
	// message that only waits is republished instead of nacked from half
	// of it on. 0: queue.MaxDeliveryAttemptsDefault.
	MaxDeliveryAttempts int
	// ReceiveOptions is the flow control of aiprod-notifier; a zero
	// MaxOutstanding is MaxOutstandingDefault.
	ReceiveOptions queue.ReceiveOptions
	Logger         *slog.Logger     // nil: slog.Default()
	Now            func() time.Time // nil: time.Now
	// Metrics counts deliveries and messages. Nil: metrics.Default().
	Metrics *metrics.Recorder
	// Alerts, when set, sends operator alerts from aiprod-alerts (a second
	// subscription to aiprod-events; package alert). Backends are the
	// catalog's names, to tell when every enabled backend is down.
	Alerts   *alert.Alerter
	Backends []string
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Timeout = cmp.Or(max(c.Timeout, 0), TimeoutDefault)
	c.MaxInFlight = cmp.Or(max(c.MaxInFlight, 0), MaxInFlightDefault)
	c.MaxPerHost = cmp.Or(max(c.MaxPerHost, 0), MaxPerHostDefault)
	if len(c.Schedule.Delays) == 0 && c.Schedule.Window == 0 {
		c.Schedule = ScheduleDefault
	}
	c.HoldMax = cmp.Or(max(c.HoldMax, 0), HoldMaxDefault)
	c.BusyWait = cmp.Or(c.BusyWait, BusyWaitDefault)
	c.BusyDelay = cmp.Or(max(c.BusyDelay, 0), BusyDelayDefault)
	c.LeaseMargin = cmp.Or(max(c.LeaseMargin, 0), LeaseMarginDefault)
	c.MaxResponseBytes = cmp.Or(max(c.MaxResponseBytes, 0), MaxResponseBytesDefault)
	c.MaxDeliveryAttempts = cmp.Or(max(c.MaxDeliveryAttempts, 0), queue.MaxDeliveryAttemptsDefault)
	c.ReceiveOptions.MaxOutstanding = cmp.Or(max(c.ReceiveOptions.MaxOutstanding, 0), MaxOutstandingDefault)
	c.ReceiveOptions = c.ReceiveOptions.WithDefaults()
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	return c
}

// Validate reports the first missing required field.
func (c Config) Validate() error {
	switch {
	case c.Queue == nil:
		return errors.New("notifier: Config.Queue is required")
	case c.Store == nil:
		return errors.New("notifier: Config.Store is required")
	case c.Secrets == nil:
		return errors.New("notifier: Config.Secrets is required")
	}
	return nil
}

// Notifier delivers job webhooks (see the package doc). Safe for
// concurrent use.
type Notifier struct {
	cfg      Config
	log      *slog.Logger
	client   *http.Client
	limits   *limits
	consumer *consumer.Consumer
	alerts   *consumer.Consumer // nil without Config.Alerts
	writer   *jobwrite.Writer   // RunTx: the delivery state and the job's event, retried on conflicts
}

// New returns a Notifier of cfg (defaults applied, then validated).
func New(cfg Config) (*Notifier, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("service", Stage), client: &client,
		limits: newLimits(cfg.MaxInFlight, cfg.MaxPerHost),
		writer: jobwrite.New(jobwrite.Config{Store: cfg.Store, Stage: Stage, Now: cfg.Now, Logger: cfg.Logger, Metrics: cfg.Metrics})}
	c, err := consumer.New(consumer.Config{
		Subscription: queue.SubscriptionEvents, Topic: queue.TopicEvents, DeadLetterTopic: queue.DeadLetterTopic(queue.TopicEvents),
		Publisher: cfg.Queue, Logger: n.log, Receive: cfg.ReceiveOptions, Metrics: cfg.Metrics, AnnounceDeadLetters: true,
	}, n.process)
	if err != nil {
		return nil, err
	}
	n.consumer = c
	if cfg.Alerts != nil {
		n.alerts, err = consumer.New(consumer.Config{
			Subscription: queue.SubscriptionAlerts, Topic: queue.TopicEvents, DeadLetterTopic: queue.DeadLetterTopic(queue.TopicEvents),
			Publisher: cfg.Queue, Logger: n.log.With("consumer", "alerts"), Receive: cfg.ReceiveOptions, Metrics: cfg.Metrics,
			AnnounceDeadLetters: true,
		}, cfg.Alerts.Handler(alert.BackendsDownOf(cfg.Store, cfg.Backends)))
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Run consumes aiprod-notifier until ctx is done; it returns nil then,
// after every message in hand was acked or nacked.
func (n *Notifier) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.consumer.Run(gctx, n.cfg.Queue) })
	if n.alerts != nil {
		g.Go(func() error { return n.alerts.Run(gctx, n.cfg.Queue) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	return nil
}

// Handle processes one message of aiprod-notifier and acks or nacks it
// through the consumer layer; exported for tests and push subscriptions.
func (n *Notifier) Handle(ctx context.Context, m *queue.Message) consumer.Outcome {
	return n.consumer.Handle(ctx, m)
}

// webhookNamespace derives webhook-ids (UUIDv5), as idempotency keys
// derive job ids.
var webhookNamespace = uuid.MustParse("6b1d1f5e-54a4-4c52-9a8e-0f1c8f4b2a61")

// WebhookID is the webhook-id of the event of job jobID reaching status:
// "msg_" and 32 hex digits, the same for every attempt and every delivery
// of the lifecycle message.
func WebhookID(jobID string, status job.Status) string {
	return "msg_" + strings.ReplaceAll(uuid.NewSHA1(webhookNamespace, []byte(jobID+"/"+string(status))).String(), "-", "")
}

// EventType is the webhook type of a terminal status: job.succeeded,
// job.failed or job.canceled.
func EventType(status job.Status) string { return "job." + string(status) }

// process is the consumer.Handler of aiprod-notifier.
func (n *Notifier) process(ctx context.Context, m *queue.Message) consumer.Outcome {
	if t := m.Attr(budget.AttrEventType); t != "" {
		// Budget events (operator alerts) are not job webhooks.
		consumer.Logger(ctx).DebugContext(ctx, "event is not a job lifecycle event; acked", "event_type", t)
		return consumer.Ack()
	}
	ev, err := dispatch.DecodeLifecycle(m.Data)
	if err != nil {
		return consumer.DeadLetter("undecodable lifecycle event: %v", err)
	}
	if !ev.Status.Terminal() {
		return consumer.Ack()
	}
	j, err := n.cfg.Store.GetJob(ctx, ev.JobID)
	switch {
	case errors.Is(err, errclass.NotFound):
		return consumer.DeadLetter("job %s not found", ev.JobID)
	case err != nil:
		return consumer.StoreError("load job "+ev.JobID, err)
	case j.ProjectID != ev.ProjectID:
		return consumer.DeadLetter("lifecycle event project_id %q is not the project of job %s", ev.ProjectID, ev.JobID)
	case !j.Status.Terminal():
		return consumer.DeadLetter("lifecycle event says job %s is %s, the store says %s", j.ID, ev.Status, j.Status)
	case j.Request.WebhookURL == "":
		return consumer.Ack()
	}
	return n.deliver(ctx, m, j)
}

// wait puts m back until about d from now: held for at most HoldMax, then
// nacked; from half the dead-letter threshold on, republished and acked
// instead, so that a webhook waiting for its retries is never
// dead-lettered.
func (n *Notifier) wait(ctx context.Context, m *queue.Message, d time.Duration, reason string) consumer.Outcome {
	if m.DeliveryAttempt >= max(2, (n.cfg.MaxDeliveryAttempts+1)/2) {
		attrs := maps.Clone(m.Attributes)
		delete(attrs, queue.AttrTraceParent)
		delete(attrs, queue.AttrTraceState)
		attrs[queue.AttrRepublished] = Stage // not news for aiprod-alerts
		_, err := telemetry.Traced(n.cfg.Queue).Publish(ctx, queue.TopicEvents, queue.Message{Data: m.Data, Attributes: attrs})
		if err == nil {
			consumer.Logger(ctx).InfoContext(ctx, "event republished instead of a nack near the dead-letter threshold", "reason", reason)
			return consumer.Ack()
		}
		consumer.Logger(ctx).WarnContext(ctx, "republish of a waiting event failed; nacking", "error", err)
	}
	o := consumer.Wait(errors.New(reason))
	o.Delay = min(max(d, 0), n.cfg.HoldMax)
	return o
}

// busyDelay is BusyDelay jittered by ±50%.
func (n *Notifier) busyDelay() time.Duration {
	d := n.cfg.BusyDelay
	return d/2 + mrand.N(d+1) //nolint:gosec // jitter, not security
}

// hostOf is the destination host of a webhook URL ("" when unparsable).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}
