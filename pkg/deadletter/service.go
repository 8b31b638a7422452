package deadletter

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
)

// Service lists and replays the dead letters of one topology's dead-letter
// subscriptions on one queue; package api's admin routes use it. It is safe
// for concurrent use (but see the package doc on concurrent listings).
type Service struct {
	q    Queue
	subs []string
	wait time.Duration
}

// NewService returns a Service for the dead-letter subscriptions of
// queue.Topology(backends) on q. wait is the idle wait of every List and
// Replay; 0 means WaitDefault.
func NewService(q Queue, backends []string, wait time.Duration) *Service {
	return &Service{q: q, subs: Subscriptions(backends), wait: wait}
}

// Subscriptions returns the dead-letter subscriptions of
// queue.Topology(backends), in topology order: aiprod-jobs-dlq,
// aiprod-events-dlq, aiprod-dlq-replay-dlq, then aiprod-dispatch-<b>-dlq
// for each backend.
func Subscriptions(backends []string) []string {
	var out []string
	for _, s := range queue.Topology(backends) {
		if s.DeadLetterTopic == "" && strings.HasSuffix(s.Name, queue.DeadLetterSuffix) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Subscriptions returns the dead-letter subscriptions the Service serves.
func (s *Service) Subscriptions() []string { return slices.Clone(s.subs) }

// check returns an errclass.NotFound error for a subscription the Service
// does not serve.
func (s *Service) check(subscription string) error {
	if !slices.Contains(s.subs, subscription) {
		return errclass.New(errclass.NotFound, "deadletter: %q is not a dead-letter subscription; known: %s",
			subscription, strings.Join(s.subs, ", "))
	}
	return nil
}

// List lists up to max dead letters of subscription (see List), or, when
// subscription is "", of every dead-letter subscription at once, merged by
// publish time and cut to max. An unknown subscription is
// errclass.NotFound.
func (s *Service) List(ctx context.Context, subscription string, max int) ([]Letter, error) {
	if subscription != "" {
		if err := s.check(subscription); err != nil {
			return nil, err
		}
		return List(ctx, s.q, subscription, max, s.wait)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  []Letter
		errs []error
	)
	for _, sub := range s.subs {
		wg.Go(func() {
			ls, err := List(ctx, s.q, sub, max, s.wait)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, ls...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	sortLetters(all)
	if len(all) > max {
		all = all[:max]
	}
	return all, errors.Join(errs...)
}

// Replay replays dead letters of subscription (see Replay). An unknown
// subscription is errclass.NotFound.
func (s *Service) Replay(ctx context.Context, subscription string, ids []string, max int) (ReplayResult, error) {
	if err := s.check(subscription); err != nil {
		return ReplayResult{}, err
	}
	return Replay(ctx, s.q, subscription, ids, max, s.wait)
}
