package job

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	allowed := map[[2]Status]bool{
		{StatusQueued, StatusDispatched}: true, {StatusQueued, StatusFailed}: true, {StatusQueued, StatusCanceled}: true,
		{StatusDispatched, StatusRunning}: true, {StatusDispatched, StatusQueued}: true, {StatusDispatched, StatusSucceeded}: true,
		{StatusDispatched, StatusFailed}: true, {StatusDispatched, StatusCanceled}: true,
		{StatusRunning, StatusQueued}: true, {StatusRunning, StatusSucceeded}: true, {StatusRunning, StatusFailed}: true,
		{StatusRunning, StatusCanceled}: true,
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, from := range Statuses {
		for _, to := range Statuses {
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				t.Parallel()
				require.Equal(t, allowed[[2]Status{from, to}], CanTransition(from, to))
				j := &Job{ID: "j", Status: from}
				err := j.Transition(to, now)
				if !allowed[[2]Status{from, to}] {
					require.ErrorIs(t, err, errclass.Conflict)
					require.Equal(t, from, j.Status, "a refused transition changes nothing")
					return
				}
				require.NoError(t, err)
				require.Equal(t, to, j.Status)
				require.Equal(t, to.Terminal(), j.CompletedAt != nil)
			})
		}
	}
}

func TestTerminalStatesAreFinal(t *testing.T) {
	t.Parallel()
	for _, s := range []Status{StatusSucceeded, StatusFailed, StatusCanceled} {
		require.True(t, s.Terminal())
		for _, to := range Statuses {
			require.False(t, CanTransition(s, to), "%s → %s", s, to)
		}
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	a := IDForKey("dev", "key-1")
	require.Equal(t, a, IDForKey("dev", "key-1"), "same project and key, same id")
	require.NotEqual(t, a, IDForKey("other", "key-1"), "keys are per project")
	require.NotEqual(t, a, IDForKey("dev", "key-2"))
	require.NotEqual(t, IDForKey("de", "vkey"), IDForKey("dev", "key"), "no ambiguity at the join")
	require.True(t, ValidID(a))
	require.Equal(t, byte('5'), a[14], "UUIDv5")
	n := NewID()
	require.True(t, ValidID(n))
	require.Equal(t, byte('4'), n[14], "UUIDv4")
	require.False(t, ValidID("not-an-id"))
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	now := time.Now()
	j := New("", "dev", Request{Prompt: "p", DurationSeconds: 5, Backends: []string{"a"}, Metadata: map[string]string{"k": "v"}}, now)
	j.Attempts = append(j.Attempts, Attempt{Number: 1, Error: &ErrorInfo{Code: "x"}, EndedAt: &now})
	c := j.Clone()
	c.Request.Backends[0] = "b"
	c.Request.Metadata["k"] = "w"
	c.Attempts[0].Error.Code = "y"
	*c.Attempts[0].EndedAt = now.Add(time.Hour)
	require.Equal(t, "a", j.Request.Backends[0])
	require.Equal(t, "v", j.Request.Metadata["k"])
	require.Equal(t, "x", j.Attempts[0].Error.Code)
	require.Equal(t, now, *j.Attempts[0].EndedAt)
}
