package platform

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadEnv(t *testing.T) {
	t.Parallel()
	e, err := LoadEnv("router", envOf(map[string]string{
		"GOOGLE_CLOUD_PROJECT": "p", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085", "AIPROD_CIRCUIT_COOLDOWN": "5s",
	}))
	require.NoError(t, err)
	require.Equal(t, "p", e.Project)
	require.Equal(t, PortDefault, e.Port)
	require.True(t, e.Provision, "provisions by default against an emulator")
	require.Equal(t, 5*time.Second, e.Circuit.Cooldown)

	e, err = LoadEnv("router", envOf(map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}))
	require.NoError(t, err)
	require.False(t, e.Provision, "never provisions production by default")
}

func TestLoadEnvErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"GOOGLE_CLOUD_PROJECT":    {},
		"AIPROD_PROVISION":        {"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_PROVISION": "maybe"},
		"AIPROD_CIRCUIT_COOLDOWN": {"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_CIRCUIT_COOLDOWN": "-1s"},
		"AIPROD_LOG_LEVEL":        {"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_LOG_LEVEL": "loud"},
	} {
		_, err := LoadEnv("ingest", envOf(env))
		require.Error(t, err, name)
		require.Contains(t, err.Error(), name)
	}
	e, err := LoadEnv("worker", envOf(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "AIPROD_POLL_INTERVAL": "fast"}))
	require.NoError(t, err)
	_, err = e.Duration("AIPROD_POLL_INTERVAL", 0)
	require.ErrorContains(t, err, "AIPROD_POLL_INTERVAL")
}
