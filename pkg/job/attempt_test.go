package job

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
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
