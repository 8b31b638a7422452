package test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/cli"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// TestLoadtestAgainstDevStack runs `aiprod loadtest --wait` against a dev
// stack whose API limits the key to 10 requests a second: the requests over
// the limit come back as the API's rate_limited, and every accepted job is
// followed to its end.
func TestLoadtestAgainstDevStack(t *testing.T) {
	t.Parallel()
	telemetry.Setup("aiprod-test")
	st, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", SimSpeed: 0.1, PollInterval: 20 * time.Millisecond,
		Circuit: circuit.Config{Cooldown: 500 * time.Millisecond}, RateLimit: 10,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })

	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"loadtest", "--api", st.APIURL, "--api-key", devstack.APIKeyDefault,
		"--rate", "60", "--duration", "1s", "--wait", "--wait-timeout", "60s", "--json"},
		&cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
	require.Equal(t, 0, code, errOut.String())
	var r struct {
		Accepted  int            `json:"accepted"`
		Errors    map[string]int `json:"errors"`
		Completed int            `json:"completed"`
		Statuses  map[string]int `json:"statuses"`
		Sent      int            `json:"sent"`
		Through   float64        `json:"throughput_jobs_per_s"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &r), out.String())
	require.Equal(t, 60, r.Sent)
	require.Positive(t, r.Errors["rate_limited"], "60 requests in a second against 10/s: %s", out.String())
	require.Equal(t, map[string]int{"rate_limited": r.Errors["rate_limited"]}, r.Errors)
	require.Equal(t, 60, r.Accepted+r.Errors["rate_limited"])
	require.GreaterOrEqual(t, r.Accepted, 10)
	require.Equal(t, r.Accepted, r.Completed, "every accepted job followed to its end")
	require.Equal(t, map[string]int{"succeeded": r.Accepted}, r.Statuses)
	require.Positive(t, r.Through)
}
