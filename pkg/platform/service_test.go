package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/platform/platformtest"
)

// TestRunServiceBadConfiguration: a bad variable is one JSON error log
// naming it, exit code ExitConfig, and the service never runs.
func TestRunServiceBadConfiguration(t *testing.T) {
	t.Parallel()
	s := Service[Config]{Name: "test", FromEnv: FromEnv, Run: func(context.Context, Config, Deps) error {
		t.Error("Run called with a bad configuration")
		return nil
	}}
	var out bytes.Buffer
	code := RunService(context.Background(), s, platformtest.Getenv(envs{
		"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_ACK_DEADLINE": "abc", "AIPROD_LOG_LEVEL": "error",
	}), &out)
	require.Equal(t, ExitConfig, code)
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line), out.String())
	require.Equal(t, "ERROR", line["severity"])
	require.Equal(t, "bad configuration", line["message"])
	require.Equal(t, "test", line["service"])
	require.Equal(t, `AIPROD_ACK_DEADLINE: "abc" is not a duration (e.g. 90s, 2m)`, line["error"])
}
