package alert

import (
	"context"
	"errors"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
)

// BackendsDown reports the enabled backends and whether every one of them
// has an open circuit.
type BackendsDown func(ctx context.Context) (enabled []string, allOpen bool, err error)

// Handler returns the consumer.Handler of the aiprod-alerts subscription:
// the alert an event raises is sent (Raise) and the message acked; an
// event that raises none is acked; an undecodable one is dead-lettered; a
// settings read that fails is retried. When a circuit opens and down says
// every enabled backend is open, AllBackendsDown is raised too (down may
// be nil).
//
// Each event is handled once per delivery: an alert may repeat only when
// the notifier dies between sending and acking. Deliveries that failed
// after their retries are logged, not retried (that would repeat the
// alert on the channels that got it).
func (a *Alerter) Handler(down BackendsDown) consumer.Handler {
	return func(ctx context.Context, m *queue.Message) consumer.Outcome {
		if m.Attr(queue.AttrRepublished) != "" {
			return consumer.Ack() // a webhook's retry copy: announced the first time
		}
		al, ok, err := FromEvent(m, a.now())
		switch {
		case err != nil:
			return consumer.DeadLetter("undecodable event: %v", err)
		case !ok:
			return consumer.Ack()
		}
		if _, err := a.Raise(ctx, al); err != nil {
			return consumer.StoreError("raise "+string(al.Kind)+" alert", err)
		}
		if al.Kind == CircuitOpen && down != nil {
			enabled, allOpen, err := down(ctx)
			switch {
			case err != nil && !errors.Is(err, errclass.NotFound):
				consumer.Logger(ctx).WarnContext(ctx, "could not tell whether every backend is down", "error", err)
			case allOpen:
				if _, err := a.Raise(ctx, AllDown(enabled, al.At)); err != nil {
					consumer.Logger(ctx).WarnContext(ctx, "raise backend.all_down alert", "error", err)
				}
			}
		}
		return consumer.Ack()
	}
}

// BackendLister is the part of the store BackendsDownOf reads.
type BackendLister interface {
	ListBackends(ctx context.Context) ([]store.BackendState, error)
}

// BackendsDownOf returns a BackendsDown over the catalog's backend names
// and their stored states (a backend never written is enabled and
// closed).
func BackendsDownOf(st BackendLister, names []string) BackendsDown {
	return func(ctx context.Context) ([]string, bool, error) {
		states, err := st.ListBackends(ctx)
		if err != nil {
			return nil, false, err
		}
		byName := make(map[string]store.BackendState, len(states))
		for _, s := range states {
			byName[s.Name] = s
		}
		var enabled []string
		allOpen := true
		for _, n := range names {
			s := byName[n]
			if s.Disabled {
				continue
			}
			enabled = append(enabled, n)
			allOpen = allOpen && s.Breaker.Current() == circuit.Open
		}
		return enabled, allOpen && len(enabled) > 0, nil
	}
}
