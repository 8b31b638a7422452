package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

func decodeJob(t *testing.T, out string) job.Job {
	t.Helper()
	var j job.Job
	require.NoError(t, json.Unmarshal([]byte(out), &j), out)
	return j
}

func TestSubmitJobCancel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	code, out, errOut := e.run("submit", "--prompt", "a cat", "--max-cost-usd", "2", "--backends", "runway,luma",
		"--user", "alice", "--idempotency-key", "k1", "--deadline-seconds", "600")
	require.Equal(t, 0, code, errOut)
	j := decodeJob(t, out)
	require.Equal(t, 600, *j.Request.DeadlineSeconds)
	require.Equal(t, "a cat", j.Request.Prompt)
	require.Equal(t, money.MustParse("2"), *j.Request.MaxCostUSD)
	require.Equal(t, []string{"runway", "luma"}, j.Request.Backends)
	require.Equal(t, "alice", j.Request.UserID)

	code, out, _ = e.run("submit", "--prompt", "another", "--idempotency-key", "k1")
	require.Equal(t, 0, code)
	require.Equal(t, j.ID, decodeJob(t, out).ID, "the same idempotency key gives the same job")

	code, out, errOut = e.run("job", j.ID)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, j.ID, decodeJob(t, out).ID)
	code, out, errOut = e.run("cancel", j.ID)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, job.StatusCanceled, decodeJob(t, out).Status)

	code, _, _ = e.run("job")
	require.Equal(t, 2, code, "job wants one id")
	code, _, errOut = e.run("job", "no-such-job")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "aiprod job: ")
}

func TestSubmitFromFileAndBadFlags(t *testing.T) {
	t.Parallel()
	e := setup(t)
	file := filepath.Join(t.TempDir(), "req.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"prompt":"from a file","duration_seconds":6}`), 0o600))
	code, out, errOut := e.run("submit", "--file", file)
	require.Equal(t, 0, code, errOut)
	j := decodeJob(t, out)
	require.Equal(t, "from a file", j.Request.Prompt)
	require.Equal(t, 6, j.Request.DurationSeconds)

	code, _, errOut = e.run("submit")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--prompt is required")
	code, _, errOut = e.run("submit", "--prompt", "p", "--max-cost-usd", "lots")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--max-cost-usd")
	code, _, _ = e.run("submit", "--file", filepath.Join(t.TempDir(), "absent.json"))
	require.Equal(t, 1, code)
}

// aiprod backends shows what routing learned of each backend: here,
// nothing yet, so the prior.
func TestBackendsShowsLearnedFigures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	code, out, errOut := e.run("backends")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^NAME +ENABLED +CIRCUIT +FAILURES +SUCCESS +P50 +P95 +SAMPLES`, out)
	require.Regexp(t, `(?m)^fal +true +closed +0 +90\.0% +60s +120s +0 `, out)
}
