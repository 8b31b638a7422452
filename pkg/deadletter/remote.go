package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Defaults of RemoteConfig.
const (
	// ReplayTimeoutDefault is how long Remote.Replay waits for the outcome
	// of its request before it answers Pending: a replay takes seconds,
	// and the answer must come before the CLI's 30 s client timeout.
	ReplayTimeoutDefault = 20 * time.Second
	// PollIntervalDefault is how often Remote.Replay looks for the outcome.
	PollIntervalDefault = 200 * time.Millisecond
)

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	// Queue is pulled by List (the dead-letter subscriptions) and published
	// to by Replay (aiprod-dlq-replay only). Required.
	Queue Queue
	// Results is where Replay finds the outcome of its request. Required.
	Results store.DLQReplays
	// Backends name the topology's dead-letter subscriptions.
	Backends []string
	// Wait is the idle wait of each List (0: WaitDefault).
	Wait time.Duration
	// ReplayTimeout: 0 means ReplayTimeoutDefault.
	ReplayTimeout time.Duration
	// PollInterval: 0 means PollIntervalDefault.
	PollInterval time.Duration
	// NewID names requests. Nil: a random UUID.
	NewID func() string
}

// Remote is the dead letters as the admin API sees them (api.DeadLetters)
// from a service that must not publish to the topics letters came from
// (ingest): List pulls the dead-letter subscriptions itself, as Service
// does, but Replay asks the router to replay (see "Replay requests" in the
// package doc) and waits for the outcome. Safe for concurrent use.
type Remote struct {
	*Service
	cfg RemoteConfig
}

// NewRemote returns the Remote of cfg.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	if cfg.Queue == nil || cfg.Results == nil {
		return nil, errors.New("deadletter: RemoteConfig.Queue and Results are required")
	}
	if cfg.ReplayTimeout <= 0 {
		cfg.ReplayTimeout = ReplayTimeoutDefault
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = PollIntervalDefault
	}
	if cfg.NewID == nil {
		cfg.NewID = uuid.NewString
	}
	return &Remote{Service: NewService(cfg.Queue, cfg.Backends, cfg.Wait), cfg: cfg}, nil
}

// Replay publishes a request to replay dead letters of subscription (ids,
// max: as Replay) to aiprod-dlq-replay and waits up to ReplayTimeout for
// the router's outcome: then the result is what the router replayed and
// did not find, and the error the router's Replay ended with, if any
// (errclass.Retryable: the request may be made again). Without an outcome
// in time, the result is Pending, with its RequestID, and no error: the
// request stays queued and will be carried out. An unknown subscription is
// errclass.NotFound, a failed publish the publish's error.
func (r *Remote) Replay(ctx context.Context, subscription string, ids []string, max int) (ReplayResult, error) {
	if err := r.check(subscription); err != nil {
		return ReplayResult{}, err
	}
	req := ReplayRequest{ID: r.cfg.NewID(), Subscription: subscription, IDs: ids, Max: max}
	data, err := req.Encode()
	if err != nil {
		return ReplayResult{}, errclass.Wrap(errclass.Permanent, err, "deadletter")
	}
	if _, err := telemetry.Traced(r.cfg.Queue).Publish(ctx, queue.TopicDLQReplay, queue.Message{Data: data}); err != nil {
		return ReplayResult{}, fmt.Errorf("deadletter: request replay of %s: %w", subscription, err)
	}
	out, err := r.await(ctx, req.ID)
	switch {
	case errors.Is(err, errclass.NotFound):
		return ReplayResult{RequestID: req.ID, Pending: true}, nil
	case err != nil:
		return ReplayResult{RequestID: req.ID, Pending: true}, err
	}
	res := ReplayResult{RequestID: req.ID, NotFound: out.NotFound}
	for _, l := range out.Replayed {
		res.Replayed = append(res.Replayed, Letter{ID: l.ID, Subscription: subscription, Topic: l.Topic})
	}
	if out.Error != "" {
		return res, errclass.New(errclass.Retryable, "deadletter: replay %s of %s: %s", req.ID, subscription, out.Error)
	}
	return res, nil
}

// await polls for the outcome of request id until it is there, the replay
// timeout passed (errclass.NotFound) or ctx is done.
func (r *Remote) await(parent context.Context, id string) (store.DLQReplay, error) {
	ctx, cancel := context.WithTimeout(parent, r.cfg.ReplayTimeout)
	defer cancel()
	tick := time.NewTicker(r.cfg.PollInterval)
	defer tick.Stop()
	for {
		out, err := r.cfg.Results.GetDLQReplay(ctx, id)
		if err == nil || !errors.Is(err, errclass.NotFound) && !errclass.IsRetryable(err) {
			return out, err
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return store.DLQReplay{}, errclass.Wrap(errclass.Retryable, err, "deadletter: wait for replay "+id)
			}
			return store.DLQReplay{}, errclass.New(errclass.NotFound, "deadletter: no outcome of replay %s yet", id)
		case <-tick.C:
		}
	}
}
