package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/metrics"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// ReplayerConfig configures a Replayer.
type ReplayerConfig struct {
	// Queue is pulled (aiprod-dlq-replay and the dead-letter
	// subscriptions) and published to (the topics letters came from, and
	// aiprod-dlq-replay-dlq). Required.
	Queue interface {
		Queue
		queue.Subscriber
	}
	// Results records the outcome of each request. Required.
	Results store.DLQReplays
	// Backends name the topology's dead-letter subscriptions
	// (Subscriptions(Backends)): the only ones a request may replay.
	Backends []string
	// Wait is the idle wait of each Replay (0: WaitDefault).
	Wait time.Duration
	// Retry is the policy of recording an outcome. Zero: RecordRetryDefault.
	Retry retry.Policy
	// Now is the clock of the outcomes' CreatedAt. Nil: time.Now.
	Now func() time.Time
	// Logger, Receive and Metrics configure the consumer of
	// aiprod-dlq-replay (package consumer).
	Logger  *slog.Logger
	Receive queue.ReceiveOptions
	Metrics *metrics.Recorder
}

// RecordRetryDefault is the policy of recording a replay's outcome: a
// failure there, once the letters are republished, would make the request
// come back and find them gone.
var RecordRetryDefault = retry.Policy{MaxAttempts: 5, MaxElapsed: 10 * time.Second, Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// Replayer carries out replay requests (see "Replay requests" in the
// package doc): it consumes aiprod-dlq-replay through the consumer layer,
// replays with its own identity, and records each outcome for the Remote
// that asked. The router runs it. Safe for concurrent use.
type Replayer struct {
	cfg ReplayerConfig
	svc *Service
	c   *consumer.Consumer
}

// NewReplayer returns the Replayer of cfg.
func NewReplayer(cfg ReplayerConfig) (*Replayer, error) {
	if cfg.Queue == nil || cfg.Results == nil {
		return nil, errors.New("deadletter: ReplayerConfig.Queue and Results are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Retry = cfg.Retry.Or(RecordRetryDefault)
	r := &Replayer{cfg: cfg, svc: NewService(cfg.Queue, cfg.Backends, cfg.Wait)}
	c, err := consumer.New(consumer.Config{
		Subscription: queue.SubscriptionDLQReplay, Topic: queue.TopicDLQReplay,
		DeadLetterTopic: queue.DeadLetterTopic(queue.TopicDLQReplay), Publisher: cfg.Queue,
		Logger: cfg.Logger, Receive: cfg.Receive, Metrics: cfg.Metrics,
	}, r.handle)
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	r.c = c
	return r, nil
}

// Run consumes aiprod-dlq-replay until ctx is done; see consumer.Run.
func (r *Replayer) Run(ctx context.Context) error { return r.c.Run(ctx, r.cfg.Queue) }

// Handle handles one replay request message (as Run does); for push
// delivery and tests.
func (r *Replayer) Handle(ctx context.Context, m *queue.Message) consumer.Outcome {
	return r.c.Handle(ctx, m)
}

// handle replays what the request asks, once: a request whose outcome is
// recorded already (a redelivery) is acked as it is. An undecodable
// request is dead-lettered. A replay that ctx cut short before publishing
// anything is nacked, to be done again; any other outcome, a failed one
// included, is recorded and acked (the admin is told, and asks again).
func (r *Replayer) handle(ctx context.Context, m *queue.Message) consumer.Outcome {
	req, err := DecodeReplayRequest(m.Data)
	if err != nil {
		return consumer.DeadLetter("%v", err)
	}
	log := consumer.Logger(ctx).With("request_id", req.ID, "subscription", req.Subscription)
	switch _, err := r.cfg.Results.GetDLQReplay(ctx, req.ID); {
	case err == nil:
		log.InfoContext(ctx, "dead-letter replay already done; redelivery acked")
		return consumer.Ack()
	case !errors.Is(err, errclass.NotFound):
		return consumer.StoreError("read dead-letter replay outcome", err)
	}
	res, err := r.svc.Replay(ctx, req.Subscription, req.IDs, req.Max)
	if err != nil && len(res.Replayed) == 0 && errclass.IsRetryable(err) && ctx.Err() != nil {
		return consumer.Nack(err)
	}
	out := store.DLQReplay{ID: req.ID, Subscription: req.Subscription, NotFound: res.NotFound, CreatedAt: r.cfg.Now()}
	for _, l := range res.Replayed {
		out.Replayed = append(out.Replayed, store.ReplayedLetter{ID: l.ID, Topic: l.Topic})
	}
	if err != nil {
		out.Error = err.Error()
	}
	err = retry.Do(ctx, r.cfg.Retry, func(ctx context.Context) error { return r.cfg.Results.CreateDLQReplay(ctx, out) })
	if err != nil && !errors.Is(err, errclass.Conflict) {
		return consumer.StoreError("record dead-letter replay outcome", err)
	}
	if out.Error != "" {
		log.WarnContext(ctx, "dead-letter replay failed", "replayed", len(out.Replayed), "error", out.Error)
	} else {
		log.InfoContext(ctx, "dead letters replayed", "replayed", len(out.Replayed), "not_found", len(out.NotFound))
	}
	return consumer.Ack()
}
