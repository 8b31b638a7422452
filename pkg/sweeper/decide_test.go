package sweeper_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/sweeper"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func agoPtr(d time.Duration) *time.Time { t := ago(d); return &t }

// jobAt returns a job in status, created an hour ago and updated `updated`
// ago, with one attempt in the statuses that have one.
func jobAt(status job.Status, updated time.Duration, opts ...func(*job.Job)) *job.Job {
	j := &job.Job{ID: "j", Status: status, CreatedAt: ago(time.Hour), UpdatedAt: ago(updated)}
	if status != job.StatusQueued {
		j.Attempts = []job.Attempt{{Number: 1, Backend: "alpha", Status: "dispatched", StartedAt: ago(updated)}}
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

// redriven marks j as re-driven n times in a row, the last d ago (and
// updated then, as the sweeper writes it).
func redriven(n int, d time.Duration) func(*job.Job) {
	return func(j *job.Job) { j.Redrives, j.RedrivenAt, j.UpdatedAt = n, agoPtr(d), ago(d) }
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := sweeper.Policy{}.WithDefaults()
	for _, tt := range []struct {
		name     string
		j        *job.Job
		p        *sweeper.Policy
		want     sweeper.Kind
		redrives int
	}{
		{"succeeded", jobAt(job.StatusSucceeded, 10*time.Hour), nil, sweeper.Leave, 0},
		{"failed", jobAt(job.StatusFailed, 10*time.Hour), nil, sweeper.Leave, 0},
		{"canceled", jobAt(job.StatusCanceled, 10*time.Hour), nil, sweeper.Leave, 0},
		{"queued within horizon", jobAt(job.StatusQueued, time.Minute), nil, sweeper.Leave, 0},
		{"queued at the horizon", jobAt(job.StatusQueued, 2*time.Minute), nil, sweeper.Redrive, 0},
		{"dispatched within horizon", jobAt(job.StatusDispatched, 4*time.Minute), nil, sweeper.Leave, 0},
		{"dispatched past horizon", jobAt(job.StatusDispatched, 6*time.Minute), nil, sweeper.Redrive, 0},
		{"running past horizon", jobAt(job.StatusRunning, 16*time.Minute), nil, sweeper.Redrive, 0},
		{"running with recent progress", jobAt(job.StatusRunning, 40*time.Minute, func(j *job.Job) {
			j.Attempts[0].LastProgressAt = agoPtr(time.Minute)
		}), nil, sweeper.Leave, 0},
		{"running with recent handle", jobAt(job.StatusRunning, 40*time.Minute, func(j *job.Job) {
			j.Attempts[0].SubmittedAt = agoPtr(14 * time.Minute)
		}), nil, sweeper.Leave, 0},
		{"dispatched, waiting for a refusal's Retry-After", jobAt(job.StatusDispatched, 8*time.Minute, func(j *job.Job) {
			j.Attempts[0].NotBefore = agoPtr(-time.Minute) // a minute from now
		}), nil, sweeper.Leave, 0},
		{"dispatched, idle past the horizon after its not-before", jobAt(job.StatusDispatched, 20*time.Minute, func(j *job.Job) {
			j.Attempts[0].NotBefore = agoPtr(6 * time.Minute)
		}), nil, sweeper.Redrive, 0},
		// Each re-drive doubles the wait: 2m, 4m, 8m, then fail.
		{"re-driven once, wait doubled", jobAt(job.StatusQueued, 0, redriven(1, 3*time.Minute)), nil, sweeper.Leave, 1},
		{"re-driven once, due again", jobAt(job.StatusQueued, 0, redriven(1, 4*time.Minute)), nil, sweeper.Redrive, 1},
		{"re-driven twice, due again", jobAt(job.StatusQueued, 0, redriven(2, 8*time.Minute)), nil, sweeper.Redrive, 2},
		{"re-driven thrice, not due", jobAt(job.StatusQueued, 0, redriven(3, 15*time.Minute)), nil, sweeper.Leave, 3},
		{"re-driven thrice, due: fail", jobAt(job.StatusQueued, 0, redriven(3, 16*time.Minute)), nil, sweeper.Fail, 3},
		{"progress after the re-drives resets the count", jobAt(job.StatusDispatched, 0, redriven(3, 30*time.Minute), func(j *job.Job) {
			j.Attempts[0].StartedAt = ago(6 * time.Minute) // rerouted since
		}), nil, sweeper.Redrive, 0},
		{"a later update resets the count", jobAt(job.StatusQueued, 0, redriven(3, 30*time.Minute), func(j *job.Job) {
			j.UpdatedAt = ago(3 * time.Minute)
		}), nil, sweeper.Redrive, 0},
		{"hard timeout despite progress", jobAt(job.StatusRunning, time.Minute, func(j *job.Job) {
			j.CreatedAt = ago(3 * time.Hour)
		}), nil, sweeper.Fail, 0},
		{"no hard timeout when disabled", jobAt(job.StatusRunning, time.Minute, func(j *job.Job) {
			j.CreatedAt = ago(30 * time.Hour)
		}), &sweeper.Policy{HardTimeout: -1}, sweeper.Leave, 0},
		{"no re-drives: fail when due", jobAt(job.StatusQueued, 3*time.Minute), &sweeper.Policy{MaxRedrives: -1}, sweeper.Fail, 0},
		{"custom horizon", jobAt(job.StatusQueued, 3*time.Minute), &sweeper.Policy{QueuedAfter: 5 * time.Minute}, sweeper.Leave, 0},
	} {
		pol := p
		if tt.p != nil {
			pol = tt.p.WithDefaults()
		}
		got := sweeper.Decide(tt.j, now, pol, sweeper.Backlog{})
		require.Equal(t, tt.want, got.Kind, "%s: %+v", tt.name, got)
		require.Equal(t, tt.redrives, got.Redrives, tt.name)
		if got.Kind == sweeper.Leave {
			require.Empty(t, got.Reason, tt.name)
		} else {
			require.Contains(t, got.Reason, string(tt.j.Status), tt.name)
		}
	}
}

// TestDecideBehindABacklog: a dispatched job on a busy backend may wait
// DispatchedAfter + 2·Age before its re-drive is due (doubled by each
// re-drive as before); other statuses, and an idle backend, extend nothing.
func TestDecideBehindABacklog(t *testing.T) {
	t.Parallel()
	p := sweeper.Policy{}.WithDefaults()
	busy := sweeper.Backlog{Busy: true, Age: 10 * time.Minute} // 5m + 2·10m = 25m
	for _, tt := range []struct {
		name string
		j    *job.Job
		bl   sweeper.Backlog
		want sweeper.Kind
	}{
		{"dispatched, waiting behind the backlog", jobAt(job.StatusDispatched, 24*time.Minute), busy, sweeper.Leave},
		{"dispatched, longer than the backlog explains", jobAt(job.StatusDispatched, 25*time.Minute), busy, sweeper.Redrive},
		{"re-driven once behind the backlog: 50m", jobAt(job.StatusDispatched, time.Hour, redriven(1, 49*time.Minute)), busy, sweeper.Leave},
		{"re-driven once behind the backlog, due", jobAt(job.StatusDispatched, time.Hour, redriven(1, 50*time.Minute)), busy, sweeper.Redrive},
		{"an idle backend extends nothing", jobAt(job.StatusDispatched, 6*time.Minute),
			sweeper.Backlog{Age: time.Hour}, sweeper.Redrive},
		{"running jobs heartbeat: no extension", jobAt(job.StatusRunning, 16*time.Minute), busy, sweeper.Redrive},
		{"queued jobs wait for routing, not slots", jobAt(job.StatusQueued, 3*time.Minute), busy, sweeper.Redrive},
		{"hard timeout despite a backlog", jobAt(job.StatusDispatched, time.Minute, func(j *job.Job) {
			j.CreatedAt = ago(3 * time.Hour)
		}), busy, sweeper.Fail},
	} {
		got := sweeper.Decide(tt.j, now, p, tt.bl)
		require.Equal(t, tt.want, got.Kind, "%s: %+v", tt.name, got)
		if got.Kind == sweeper.Redrive && tt.j.Status == job.StatusDispatched && tt.bl.Busy {
			require.Contains(t, got.Reason, "its backend is busy with work up to 10m0s old: 20m0s allowed", tt.name)
		}
	}
}

// TestBacklogOf: a backend is busy when every slot is held (or released
// within TurnoverWindow) or a waiting mark is fresh; its age is the oldest holder's time since dispatch (since
// acquisition when the slot does not say).
func TestBacklogOf(t *testing.T) {
	t.Parallel()
	held := func(dispatched, acquired time.Duration) store.Slot {
		sl := store.Slot{Backend: "alpha", Holder: "j#1", Project: "p", AcquiredAt: ago(acquired), ExpiresAt: ago(-time.Minute)}
		if dispatched > 0 {
			sl.DispatchedAt = ago(dispatched)
		}
		return sl
	}
	free := store.Slot{Backend: "alpha"}
	expired := store.Slot{Backend: "alpha", Holder: "old#1", AcquiredAt: ago(3 * time.Hour), ExpiresAt: ago(time.Minute)}
	mark := store.SlotWaiters{"p": ago(-5 * time.Second)}
	staleMark := store.SlotWaiters{"p": ago(time.Second)}
	for _, tt := range []struct {
		name    string
		slots   []store.Slot
		waiters store.SlotWaiters
		want    sweeper.Backlog
	}{
		{"every slot held", []store.Slot{held(20*time.Minute, time.Second), held(0, 3*time.Minute)}, nil,
			sweeper.Backlog{Busy: true, Age: 20 * time.Minute}},
		{"a free slot, no mark: idle", []store.Slot{held(20*time.Minute, time.Second), free}, staleMark,
			sweeper.Backlog{Age: 20 * time.Minute}},
		{"a free slot and a fresh mark: a claim was just refused", []store.Slot{held(7*time.Minute, time.Second), free}, mark,
			sweeper.Backlog{Busy: true, Age: 7 * time.Minute}},
		{"a slot released 10 s ago: turning over", []store.Slot{held(7*time.Minute, time.Second),
			{Backend: "alpha", ReleasedAt: ago(sweeper.TurnoverWindow)}}, nil, sweeper.Backlog{Busy: true, Age: 7 * time.Minute}},
		{"every slot released at once (generations ending together): the last holders' age", []store.Slot{
			{Backend: "alpha", ReleasedAt: now, DispatchedAt: ago(14 * time.Minute), AcquiredAt: ago(5 * time.Second)},
			{Backend: "alpha", ReleasedAt: now, AcquiredAt: ago(9 * time.Minute)}}, nil,
			sweeper.Backlog{Busy: true, Age: 14 * time.Minute}},
		{"a slot free for longer: nobody took it", []store.Slot{held(7*time.Minute, time.Second),
			{Backend: "alpha", ReleasedAt: ago(sweeper.TurnoverWindow + time.Second)}}, nil, sweeper.Backlog{Age: 7 * time.Minute}},
		{"an expired lease is a free slot and has no age", []store.Slot{held(time.Minute, time.Second), expired}, nil,
			sweeper.Backlog{Age: time.Minute}},
		{"no slots read", nil, nil, sweeper.Backlog{}},
	} {
		require.Equal(t, tt.want, sweeper.BacklogOf(tt.slots, tt.waiters, now), tt.name)
	}
	require.Equal(t, time.Duration(0), sweeper.Backlog{Age: time.Hour}.Extension(), "not busy")
	require.Equal(t, 2*time.Hour, sweeper.Backlog{Busy: true, Age: time.Hour}.Extension())
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, sweeper.Policy{}.WithDefaults().Validate())
	err := sweeper.Policy{QueuedAfter: -time.Second}.WithDefaults().Validate()
	require.ErrorContains(t, err, "Policy.QueuedAfter")
}
