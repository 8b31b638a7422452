package job

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
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

// A clone equals its job and shares nothing with it, whatever the number of
// attempts and times (one allocation holds the clone of a job with at most
// one attempt), and appending an attempt to a clone leaves the next one
// alone.
func TestCloneEqualsAndSharesNothing(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	later := now.Add(time.Minute)
	cost := money.Micros(7)
	for attempts := range 4 {
		for _, times := range []bool{false, true} {
			deadline := 600
			j := New("", "dev", Request{Prompt: "p", DurationSeconds: 5, MaxCostUSD: &cost, DeadlineSeconds: &deadline}, now)
			for n := 1; n <= attempts; n++ {
				a := Attempt{Number: n, Backend: "b", StartedAt: now}
				if times {
					a.SubmittedAt, a.EndedAt, a.LastProgressAt, a.RetryAt, a.NotBefore = &now, &later, &now, &later, &now
				}
				j.Attempts = append(j.Attempts, a)
			}
			if times {
				j.CompletedAt, j.RedrivenAt = &later, &now
				j.Result, j.Error = &Result{VideoURL: "u"}, &ErrorInfo{Code: "c"}
			}
			c := j.Clone()
			require.Equal(t, j, c, "%d attempts, times %v", attempts, times)
			require.NotNil(t, c.Attempts)
			c2 := j.Clone()
			if attempts > 0 && times {
				*c.Attempts[0].SubmittedAt = now.Add(time.Hour)
				*c.CompletedAt = now.Add(time.Hour)
				require.Equal(t, now, *j.Attempts[0].SubmittedAt)
				require.Equal(t, later, *j.CompletedAt)
				require.Equal(t, later, *c2.CompletedAt, "clones share nothing either")
			}
			c.Attempts = append(c.Attempts, Attempt{Number: 99})
			*c.Request.MaxCostUSD = 9
			*c.Request.DeadlineSeconds = 9
			require.Equal(t, j, c2, "%d attempts, times %v", attempts, times)
		}
	}
}
