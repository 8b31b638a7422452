package alert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
)

// OpsKinds are the system-wide kinds the operations channel gets when its
// settings name none.
var OpsKinds = []Kind{CircuitOpen, CircuitClosed, AllBackendsDown, BackendAnomaly, DLQMessage}

// systemWide kinds concern every project: they go to the operations
// channel and to every project whose settings ask for them.
func systemWide(k Kind) bool {
	return k == CircuitOpen || k == CircuitClosed || k == AllBackendsDown || k == BackendAnomaly
}

// Alerter decides who gets an alert and sends it on every channel they
// configured: a project's alerts (budget thresholds, failed jobs, its dead
// letters) to that project's settings; system-wide ones (circuits, every
// backend down, a backend's anomalies) to the operations channel and to
// every project that asked for them; every dead letter to the operations
// channel too.
type Alerter struct {
	Channels Channels
	// Ops is the operations channel (from the environment); its Events
	// default to OpsKinds.
	Ops Settings
	// Store holds projects' settings. Nil: only the operations channel.
	Store store.NotificationStore
	// Retry sends again to one destination after a Retryable failure.
	// Zero: 3 tries within about 10 s.
	Retry retry.Policy
	// CacheFor is how long the list of every project's settings is reused
	// for system-wide alerts. 0: 30 s.
	CacheFor time.Duration
	Logger   *slog.Logger
	Now      func() time.Time

	mu       sync.Mutex
	all      []store.Notifications
	cachedAt time.Time
}

// Delivery is the outcome of one alert on one destination.
type Delivery struct {
	Channel string
	Project string // "" for the operations channel
	Err     error
}

// Raise sends a to everyone who asked for it, each destination in
// parallel with its own retries, and reports every delivery. Errors of
// reading settings are returned (the caller may retry the event);
// failed deliveries are in the report and logged, not returned: sending
// again would repeat the alert to the destinations that got it.
func (a *Alerter) Raise(ctx context.Context, al Alert) ([]Delivery, error) {
	targets, err := a.targets(ctx, al)
	if err != nil {
		return nil, err
	}
	type job struct {
		s       Sender
		project string
	}
	var jobs []job
	for _, t := range targets {
		senders, skipped := a.Channels.Senders(t.settings)
		for _, why := range skipped {
			a.logger().WarnContext(ctx, "alert channel not configured", "kind", al.Kind, "project", t.project, "why", why)
		}
		for _, s := range senders {
			jobs = append(jobs, job{s, t.project})
		}
	}
	out := make([]Delivery, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			err := retry.Do(ctx, a.retry(), func(ctx context.Context) error { return j.s.Send(ctx, al) })
			out[i] = Delivery{Channel: j.s.Channel(), Project: j.project, Err: err}
			if err != nil {
				a.logger().ErrorContext(ctx, "alert not delivered", "kind", al.Kind, "channel", j.s.Channel(), "project", j.project, "error", err)
			} else {
				a.logger().InfoContext(ctx, "alert delivered", "kind", al.Kind, "channel", j.s.Channel(), "project", j.project)
			}
		})
	}
	wg.Wait()
	return out, nil
}

type target struct {
	project  string
	settings Settings
}

func (a *Alerter) targets(ctx context.Context, al Alert) ([]target, error) {
	var out []target
	ops := a.Ops
	if len(ops.Events) == 0 {
		ops.Events = OpsKinds
	}
	if ops.Wants(al.Kind) && (al.Project == "" || al.Kind == DLQMessage) {
		out = append(out, target{"", ops})
	}
	if a.Store == nil {
		return out, nil
	}
	switch {
	case systemWide(al.Kind):
		all, err := a.allSettings(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range all {
			if s := FromStore(n); s.Wants(al.Kind) {
				out = append(out, target{n.ProjectID, s})
			}
		}
	case al.Project != "":
		n, err := a.Store.GetNotifications(ctx, al.Project)
		if err != nil {
			return nil, fmt.Errorf("read notification settings of project %s: %w", al.Project, err)
		}
		if s := FromStore(n); s.Wants(al.Kind) {
			out = append(out, target{al.Project, s})
		}
	}
	return out, nil
}

func (a *Alerter) allSettings(ctx context.Context) ([]store.Notifications, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.all != nil && now.Sub(a.cachedAt) < cmp.Or(a.CacheFor, 30*time.Second) {
		return a.all, nil
	}
	all, err := a.Store.ListNotifications(ctx)
	if err != nil {
		return nil, fmt.Errorf("list notification settings: %w", err)
	}
	a.all, a.cachedAt = all, now
	return all, nil
}

func (a *Alerter) retry() retry.Policy {
	p := a.Retry
	if p.MaxAttempts == 0 && p.MaxElapsed == 0 {
		p.MaxAttempts, p.Initial, p.Max = 3, time.Second, 8*time.Second
	}
	return p
}

func (a *Alerter) logger() *slog.Logger { return cmp.Or(a.Logger, slog.Default()) }

func (a *Alerter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Failed returns the deliveries that failed, joined; nil when all went.
func Failed(ds []Delivery) error {
	var errs []error
	for _, d := range ds {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("%s of %q: %w", d.Channel, d.Project, d.Err))
		}
	}
	return errors.Join(errs...)
}
