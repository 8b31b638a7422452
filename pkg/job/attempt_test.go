package job

import (
	"testing"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttemptTransitions(t *testing.T) {
	t.Parallel()
	legal := map[[2]AttemptStatus]bool{
		{AttemptDispatched, AttemptSubmitting}: true,
		{AttemptDispatched, AttemptFailed}:     true,
		{AttemptDispatched, AttemptCanceled}:   true,
		{AttemptSubmitting, AttemptRunning}:    true,
		{AttemptSubmitting, AttemptFailed}:     true,
		{AttemptSubmitting, AttemptCanceled}:   true,
		{AttemptRunning, AttemptSucceeded}:     true,
		{AttemptRunning, AttemptFailed}:        true,
		{AttemptRunning, AttemptCanceled}:      true,
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, from := range AttemptStatuses {
		for _, to := range AttemptStatuses {
			want := legal[[2]AttemptStatus{from, to}]
			require.Equal(t, want, CanAttemptTransition(from, to), "%s → %s", from, to)
			a := Attempt{Number: 1, Status: from}
			err := a.transition(to, now)
			if !want {
				require.ErrorIs(t, err, errclass.Conflict, "%s → %s", from, to)
				require.Equal(t, from, a.Status, "a refused transition changes nothing")
				continue
			}
			require.NoError(t, err)
			require.Equal(t, to, a.Status)
			require.Equal(t, to.Finished(), a.EndedAt != nil, "finishing sets EndedAt")
		}
	}
}

func TestAttemptStatusFinished(t *testing.T) {
	t.Parallel()
	for _, s := range AttemptStatuses {
		want := s == AttemptSucceeded || s == AttemptFailed || s == AttemptCanceled
		require.Equal(t, want, s.Finished(), s)
		require.True(t, s.Valid())
		require.Equal(t, !want, len(attemptLegal[s]) > 0, "only unfinished states have transitions out: %s", s)
	}
	require.False(t, AttemptStatus("paused").Valid())
}

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// at returns a job in status st whose attempts have the given statuses
// (the last one current), on backends b1, b2, ...
func at(st Status, attempts ...AttemptStatus) *Job {
	j := &Job{ID: "j", ProjectID: "p", Status: st, Attempts: []Attempt{}}
	for i, s := range attempts {
		j.Attempts = append(j.Attempts, Attempt{Number: i + 1, Backend: "b" + string(rune('1'+i)), Status: s, StartedAt: t0})
	}
	return j
}

func types(es []Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

func TestAttemptOutcomes(t *testing.T) {
	t.Parallel()
	cost := money.MustParse("0.5")
	retryable := Failure{Code: CodeBackendUnavailable, Message: "503"}
	final := Failure{Code: CodeContentRejected, Message: "unsafe", Final: true}
	tests := []struct {
		name       string
		j          *Job
		change     func(j *Job) ([]Event, error)
		wantErr    bool
		job        Status
		attempt    AttemptStatus
		events     []string
		code       string // the job's error code
		excluded   bool
		wantResult bool
	}{
		{name: "intent", j: at(StatusDispatched, AttemptDispatched),
			change: func(j *Job) ([]Event, error) { return j.RecordIntent(1, t0) },
			job:    StatusRunning, attempt: AttemptSubmitting, events: []string{"submitting"}},
		{name: "intent twice", j: at(StatusRunning, AttemptSubmitting),
			change: func(j *Job) ([]Event, error) { return j.RecordIntent(1, t0) }, wantErr: true},
		{name: "intent for a stale attempt", j: at(StatusDispatched, AttemptFailed, AttemptDispatched),
			change: func(j *Job) ([]Event, error) { return j.RecordIntent(1, t0) }, wantErr: true},
		{name: "handle", j: at(StatusRunning, AttemptSubmitting),
			change: func(j *Job) ([]Event, error) { return j.RecordHandle(1, "h", t0, "submitted", "ok") },
			job:    StatusRunning, attempt: AttemptRunning, events: []string{"submitted"}},
		{name: "handle of a canceled job", j: at(StatusCanceled, AttemptSubmitting),
			change: func(j *Job) ([]Event, error) { return j.RecordHandle(1, "h", t0, "submitted", "ok") },
			job:    StatusCanceled, attempt: AttemptRunning, events: []string{"submitted"}},
		{name: "handle of a failed job", j: at(StatusFailed, AttemptSubmitting),
			change: func(j *Job) ([]Event, error) { return j.RecordHandle(1, "h", t0, "submitted", "ok") }, wantErr: true},
		{name: "success", j: at(StatusRunning, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.SucceedAttempt(1, cost, Result{VideoURL: "u"}, t0) },
			job:    StatusSucceeded, attempt: AttemptSucceeded, events: []string{"succeeded"}, wantResult: true},
		{name: "success after a cancel", j: at(StatusCanceled, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.SucceedAttempt(1, cost, Result{VideoURL: "u"}, t0) },
			job:    StatusCanceled, attempt: AttemptCanceled, events: []string{"attempt_canceled"}},
		{name: "success twice", j: at(StatusSucceeded, AttemptSucceeded),
			change: func(j *Job) ([]Event, error) { return j.SucceedAttempt(1, cost, Result{}, t0) }, wantErr: true},
		{name: "failover", j: at(StatusRunning, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.FailAttempt(1, retryable, 3, t0) },
			job:    StatusQueued, attempt: AttemptFailed, events: []string{"attempt_failed", "rerouted"}, excluded: true},
		{name: "last attempt", j: at(StatusRunning, AttemptFailed, AttemptFailed, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.FailAttempt(3, retryable, 3, t0) },
			job:    StatusFailed, attempt: AttemptFailed, events: []string{"attempt_failed", "failed"}, code: CodeBackendFailed, excluded: true},
		{name: "final failure", j: at(StatusRunning, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.FailAttempt(1, final, 3, t0) },
			job:    StatusFailed, attempt: AttemptFailed, events: []string{"attempt_failed", "failed"}, code: CodeContentRejected},
		{name: "failure after a cancel", j: at(StatusCanceled, AttemptSubmitting),
			change: func(j *Job) ([]Event, error) { return j.FailAttempt(1, retryable, 3, t0) },
			job:    StatusCanceled, attempt: AttemptCanceled, events: []string{"attempt_canceled"}},
		{name: "cancel", j: at(StatusCanceled, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.CancelAttempt(1, cost, "canceled at the provider", t0) },
			job:    StatusCanceled, attempt: AttemptCanceled, events: []string{"attempt_canceled"}},
		{name: "cancel of a running job", j: at(StatusRunning, AttemptRunning),
			change: func(j *Job) ([]Event, error) { return j.CancelAttempt(1, 0, "x", t0) }, wantErr: true},
	}
	for _, tt := range tests {
		before := tt.j.Clone()
		events, err := tt.change(tt.j)
		if tt.wantErr {
			require.ErrorIs(t, err, errclass.Conflict, tt.name)
			assert.Equal(t, before, tt.j, "%s: a refused change changes nothing", tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.job, tt.j.Status, tt.name)
		a := tt.j.CurrentAttempt()
		assert.Equal(t, tt.attempt, a.Status, tt.name)
		assert.Equal(t, tt.events, types(events), tt.name)
		for _, e := range events {
			assert.Equal(t, a.Number, e.Attempt, tt.name)
			assert.Equal(t, a.Backend, e.Backend, tt.name)
		}
		assert.Equal(t, a.Status.Finished(), a.EndedAt != nil, "%s: finished attempts have an end", tt.name)
		if tt.code != "" {
			require.NotNil(t, tt.j.Error, tt.name)
			assert.Equal(t, tt.code, tt.j.Error.Code, tt.name)
		}
		assert.Equal(t, tt.excluded, len(tt.j.ExcludedBackends) > 0, tt.name)
		assert.Equal(t, tt.wantResult, tt.j.Result != nil, tt.name)
		assert.Equal(t, TotalCost(tt.j.Attempts), tt.j.Cost, "%s: the job's cost is its attempts'", tt.name)
	}
}

func TestAttemptsSummary(t *testing.T) {
	t.Parallel()
	got := AttemptsSummary([]Attempt{
		{Number: 1, Backend: "luma", Model: "ray-2", Status: AttemptFailed,
			Error: &ErrorInfo{Code: CodeBackendUnavailable, Message: "503"}},
		{Number: 2, Backend: "veo", Status: AttemptRunning},
	})
	require.Equal(t, "attempt 1 on luma (ray-2): backend_unavailable: 503; attempt 2 on veo: running", got)
}
