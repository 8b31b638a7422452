package sweeper

import (
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// Defaults of Policy.
const (
	QueuedAfterDefault     = 2 * time.Minute
	DispatchedAfterDefault = 5 * time.Minute
	RunningAfterDefault    = 15 * time.Minute
	MaxRedrivesDefault     = 3
	HardTimeoutDefault     = 3 * time.Hour
)

// maxBackoffShift caps the doubling of a horizon after re-drives (2^10 ≈
// a thousand horizons, far beyond any hard timeout).
const maxBackoffShift = 10

// Policy is when a job counts as stuck and what is done about it; see the
// package doc. The zero value is usable: WithDefaults fills it.
type Policy struct {
	// QueuedAfter, DispatchedAfter and RunningAfter are the horizons: how
	// long a job may stay in that status without progress before it is
	// re-driven. 0: the defaults.
	QueuedAfter     time.Duration
	DispatchedAfter time.Duration
	RunningAfter    time.Duration
	// MaxRedrives is how many re-drives in a row without progress a job
	// gets; when the next one is due instead, it fails with timeout.
	// 0: MaxRedrivesDefault; negative: no re-drive, fail at once.
	MaxRedrives int
	// HardTimeout is the age (since created_at) at which an unfinished job
	// fails with timeout, progress or not. 0: HardTimeoutDefault; negative:
	// none. It must exceed the longest legitimate run: the attempts times
	// the worker's generation timeout, plus queueing.
	HardTimeout time.Duration
}

// WithDefaults fills zero fields.
func (p Policy) WithDefaults() Policy {
	if p.QueuedAfter == 0 {
		p.QueuedAfter = QueuedAfterDefault
	}
	if p.DispatchedAfter == 0 {
		p.DispatchedAfter = DispatchedAfterDefault
	}
	if p.RunningAfter == 0 {
		p.RunningAfter = RunningAfterDefault
	}
	if p.MaxRedrives == 0 {
		p.MaxRedrives = MaxRedrivesDefault
	}
	if p.HardTimeout == 0 {
		p.HardTimeout = HardTimeoutDefault
	}
	return p
}

// Validate checks a Policy after WithDefaults; messages name the field.
func (p Policy) Validate() error {
	var errs []error
	for _, h := range []struct {
		name string
		d    time.Duration
	}{{"QueuedAfter", p.QueuedAfter}, {"DispatchedAfter", p.DispatchedAfter}, {"RunningAfter", p.RunningAfter}} {
		if h.d <= 0 {
			errs = append(errs, fmt.Errorf("sweeper: Policy.%s must be positive, got %s", h.name, h.d))
		}
	}
	return errors.Join(errs...)
}

// Horizon returns the horizon of status; 0 for a status the sweeper leaves
// alone (the terminal ones).
func (p Policy) Horizon(s job.Status) time.Duration {
	switch s {
	case job.StatusQueued:
		return p.QueuedAfter
	case job.StatusDispatched:
		return p.DispatchedAfter
	case job.StatusRunning:
		return p.RunningAfter
	}
	return 0
}

// Kind is what to do with a job.
type Kind int

// The kinds of Action.
const (
	// Leave the job alone: terminal, or not stuck (yet).
	Leave Kind = iota
	// Redrive the job: publish again the message that moves it on.
	Redrive
	// Fail the job with code timeout.
	Fail
)

func (k Kind) String() string {
	switch k {
	case Leave:
		return "leave"
	case Redrive:
		return "redrive"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Action is Decide's verdict about one job.
type Action struct {
	Kind Kind
	// Reason says why, for logs, the timeline and the job's error message;
	// "" for Leave.
	Reason string
	// Redrives is the job's count of re-drives in a row without progress
	// before this action.
	Redrives int
}

// LastProgress returns when job j last changed in a way that shows
// progress: its updated_at, or a later time of its current attempt
// (started, submitted, last progress, ended), which workers record without
// touching updated_at, or the attempt's not-before (a job waiting for a
// provider's Retry-After is not idle until then).
func LastProgress(j *job.Job) time.Time {
	last := j.UpdatedAt
	if a := j.CurrentAttempt(); a != nil {
		for _, t := range []*time.Time{&a.StartedAt, a.SubmittedAt, a.LastProgressAt, a.EndedAt, a.NotBefore} {
			if t != nil && t.After(last) {
				last = *t
			}
		}
	}
	return last
}

// RedrivesInARow returns j.Redrives when nothing changed j since the
// sweeper's last re-drive (LastProgress is not after RedrivenAt), else 0:
// progress resets the count.
func RedrivesInARow(j *job.Job) int {
	if j.Redrives <= 0 || j.RedrivenAt == nil || LastProgress(j).After(*j.RedrivenAt) {
		return 0
	}
	return j.Redrives
}

// BacklogFactor is how many times a backend's backlog age (Backlog.Age) a
// dispatched job on that backend may wait, beyond DispatchedAfter, while
// the backend is busy: the margin for a queue that is not first in, first
// out (Pub/Sub promises no order).
const BacklogFactor = 2

// Backlog is what one sweep sees of the queue behind a backend's
// concurrency slots (BacklogOf). A dispatched job waits there for a slot
// without any write of its own, so the sweeper judges the backend instead:
// while the backend is Busy, the work now holding its slots has been in
// the system for up to Age, and a job dispatched less than
// DispatchedAfter + BacklogFactor·Age ago is waiting its turn, not stuck.
// The zero Backlog (a backend without slots, or idle) extends nothing.
type Backlog struct {
	// Busy: deliveries are waiting for the backend's slots — every slot is
	// held or was released within TurnoverWindow (taken again at once in a
	// backlog), or a waiting mark is fresh (a claim was refused within the
	// mark's life; store.SlotWaiters).
	Busy bool
	// Age is the longest time since dispatch among the attempts holding a
	// slot: their wait for it plus their generation so far.
	Age time.Duration
}

// Extension is how much longer than DispatchedAfter a dispatched job on
// the backend may go without progress: BacklogFactor·Age while Busy, else
// none.
func (b Backlog) Extension() time.Duration {
	if !b.Busy || b.Age <= 0 {
		return 0
	}
	return BacklogFactor * b.Age
}

// TurnoverWindow is how recently a free slot must have been released to
// count as in use (Backlog.Busy): in a backlog the next delivery takes a
// released slot within a few of its retry pauses, so a slot free for
// longer means nobody was waiting for it. It is a waiting mark's life.
const TurnoverWindow = store.SlotWaitMarkDefault

// BacklogOf judges a backend from its slots and waiting marks as read at
// now (store.ReadSlots). A holder's age counts from its Slot.DispatchedAt,
// or from its AcquiredAt when the slot does not say; so does the last
// holder's of a slot released within TurnoverWindow (ReleaseSlot keeps
// both).
func BacklogOf(slots []store.Slot, waiters store.SlotWaiters, now time.Time) Backlog {
	b := Backlog{Busy: len(slots) > 0}
	for _, sl := range slots {
		if !sl.HeldAt(now) {
			if sl.ReleasedAt.IsZero() || now.Sub(sl.ReleasedAt) > TurnoverWindow {
				b.Busy = false
				continue
			}
			// Released just now: its last holder's wait counts, or a
			// sweep that comes as the slots turn over (every generation
			// of a backend ending at once; a backend with one slot, at
			// each release) would see no age at all.
		}
		since := sl.DispatchedAt
		if since.IsZero() || sl.AcquiredAt.Before(since) {
			since = sl.AcquiredAt
		}
		if !since.IsZero() {
			b.Age = max(b.Age, now.Sub(since))
		}
	}
	b.Busy = b.Busy || waiters.AnyAt(now)
	return b
}

// Decide says what the sweeper does with job j at now under policy p (with
// defaults applied), b being the Backlog of a dispatched job's backend (the
// zero Backlog for other jobs). It is a pure function of its arguments:
//
//   - a job that is not queued, dispatched or running: Leave;
//   - older than HardTimeout (since created_at): Fail;
//   - otherwise, with n = RedrivesInARow(j), a re-drive is due once
//     (Horizon(status) + b.Extension())·2^n has passed since the later of
//     LastProgress and RedrivenAt (each re-drive doubles the wait). Not
//     due: Leave; due with n < MaxRedrives: Redrive; due with
//     n ≥ MaxRedrives: Fail.
func Decide(j *job.Job, now time.Time, p Policy, b Backlog) Action {
	horizon := p.Horizon(j.Status)
	if horizon <= 0 {
		return Action{Kind: Leave}
	}
	if j.Status == job.StatusDispatched {
		horizon += b.Extension()
	}
	n := RedrivesInARow(j)
	if p.HardTimeout > 0 {
		if age := now.Sub(j.CreatedAt); age >= p.HardTimeout {
			return Action{Kind: Fail, Redrives: n, Reason: fmt.Sprintf(
				"not finished %s after it was created (hard timeout %s; status %s)",
				round(age), round(p.HardTimeout), j.Status)}
		}
	}
	since := LastProgress(j)
	if n > 0 && j.RedrivenAt.After(since) {
		since = *j.RedrivenAt
	}
	wait := horizon << min(n, maxBackoffShift)
	idle := now.Sub(since)
	if idle < wait {
		return Action{Kind: Leave, Redrives: n}
	}
	if n >= max(p.MaxRedrives, 0) {
		return Action{Kind: Fail, Redrives: n, Reason: fmt.Sprintf(
			"no progress in status %s after %d re-drives (the last %s ago)", j.Status, n, round(idle))}
	}
	return Action{Kind: Redrive, Redrives: n, Reason: fmt.Sprintf(
		"no progress in status %s for %s%s", j.Status, round(idle), behind(j, b))}
}

// behind says, for a reason, which backlog a dispatched job was allowed to
// wait behind; "" when none.
func behind(j *job.Job, b Backlog) string {
	if j.Status != job.StatusDispatched || b.Extension() == 0 {
		return ""
	}
	return fmt.Sprintf(" (its backend is busy with work up to %s old: %s allowed)", round(b.Age), round(b.Extension()))
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }
