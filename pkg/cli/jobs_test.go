package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store/storetest"
)

// failedJob stores a job of project created ago before the real clock
// (the CLI counts --since from it), ended with code when code is set.
func (e *cliEnv) failedJob(t *testing.T, project string, ago time.Duration, status job.Status, backend, code, user string) string {
	t.Helper()
	req := job.Request{Prompt: "a fox\tin the\nsnow", DurationSeconds: 5, UserID: user}
	req.ApplyDefaults()
	j := job.New("", project, req, time.Now().Add(-ago))
	j.Status, j.Backend = status, backend
	if code != "" {
		j.Error = &job.ErrorInfo{Code: code, Message: "fal answered 500 three times in a row; the job ran out of attempts " + strings.Repeat("and more ", 10)}
	}
	_, _, err := storetest.CreateJob(context.Background(), e.st, j)
	require.NoError(t, err)
	return j.ID
}

// listed runs aiprod jobs with --json and returns the ids listed.
func (e *cliEnv) listed(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errOut := e.run(append([]string{"jobs", "--json"}, args...)...)
	require.Equal(t, 0, code, errOut)
	var l client.JobList
	require.NoError(t, json.Unmarshal([]byte(out), &l), out)
	ids := []string{}
	for _, j := range l.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

func TestJobsSearch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	old := e.failedJob(t, "dev", 3*time.Hour, job.StatusFailed, "fal", job.CodeBackendFailed, "alice")
	recent := e.failedJob(t, "dev", 30*time.Minute, job.StatusFailed, "fal", job.CodeBackendFailed, "bob")
	timeout := e.failedJob(t, "dev", 20*time.Minute, job.StatusFailed, "fal", job.CodeTimeout, "alice")
	ok := e.failedJob(t, "dev", 10*time.Minute, job.StatusSucceeded, "fal", "", "alice")
	other := e.failedJob(t, "acme", 15*time.Minute, job.StatusFailed, "fal", job.CodeBackendFailed, "alice")

	require.Equal(t, []string{recent}, e.listed(t, "--status", "failed", "--backend", "fal", "--code", "backend_failed", "--since", "1h"))
	require.Equal(t, []string{recent, old}, e.listed(t, "--code", "backend_failed"))
	require.Equal(t, []string{ok, timeout, old}, e.listed(t, "--user", "alice"))
	require.Equal(t, []string{old}, e.listed(t, "--until", "1h"))
	require.Equal(t, []string{timeout, recent}, e.listed(t, "--since", "45m", "--until", "15m"))
	require.Equal(t, []string{ok, timeout, recent, old}, e.listed(t, "--since", "1d"))
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	require.Equal(t, []string{ok, timeout, recent}, e.listed(t, "--since", since))
	require.Equal(t, []string{ok}, e.listed(t, "--limit", "1"))

	// Operators: one project or every project, through the admin route.
	require.Equal(t, []string{other}, e.listed(t, "--project", "acme"))
	require.Equal(t, []string{other, recent, old}, e.listed(t, "--all-projects", "--status", "failed", "--code", "backend_failed"))
	code, _, errOut := e.run("jobs", "--project", "acme", "--admin-key", "wrong")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "401")

	// The table shows the error, on one line, truncated.
	code, out, errOut := e.run("jobs", "--status", "failed", "--since", "1h")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, []string{"ID", "STATUS", "BACKEND", "COST_USD", "CREATED", "PROMPT", "ERROR"}, strings.Fields(lines[0]))
	require.Contains(t, lines[1], "a fox in the snow")
	require.Contains(t, lines[1], "timeout: fal answered 500 three times")
	require.True(t, strings.HasSuffix(lines[1], "…"), lines[1])
	code, out, _ = e.run("jobs", "--all-projects", "--limit", "1")
	require.Equal(t, 0, code)
	require.Equal(t, "PROJECT", strings.Fields(out)[1], "an admin search shows the project")
}

func TestJobsBadFlags(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct {
		args    []string
		code    int
		message string
	}{
		{[]string{"--since", "yesterday"}, 2, "-since"},
		{[]string{"--until", "-1h"}, 2, "duration ago"},
		{[]string{"--project", "acme", "--all-projects"}, 2, "exclusive"},
		{[]string{"stray"}, 2, "Usage: aiprod jobs"},
		{[]string{"--backend", "nope"}, 1, "field backend"},
		{[]string{"--code", "Not A Code"}, 1, "field error_code"},
		{[]string{"--status", "done"}, 1, "field status"},
		{[]string{"--since", "1h", "--until", "2h"}, 1, "field until"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := e.run(append([]string{"jobs"}, tt.args...)...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.message)
		})
	}

	code, _, errOut := e.run("jobs", "--help")
	require.Equal(t, 0, code)
	for _, s := range []string{"--since", "7d", "RFC 3339", "--code", "--all-projects", "admin"} {
		require.Contains(t, errOut, s)
	}
}
