package cli

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/devstack"
)

// TestDevAllowPrivateNetworks: aiprod dev allows private networks unless
// told otherwise (DESIGN: --allow-private-networks, on in dev only).
func TestDevAllowPrivateNetworks(t *testing.T) {
	t.Parallel()
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for args, refuse := range map[string]bool{"": false, "--allow-private-networks": false, "--allow-private-networks=false": true} {
		var argv []string
		if args != "" {
			argv = []string{args}
		}
		cfg, _, _, err := devFlags(env, argv)
		require.NoError(t, err, args)
		require.Equal(t, refuse, cfg.RefusePrivateNetworks, args)
	}
	_, _, _, err := devFlags(env, []string{"--allow-private-networks=maybe"})
	require.Error(t, err)
}

// TestDevFlagsRateLimit: aiprod dev has no rate limit unless
// --rate-limit N asks for one (DESIGN "More aiprod dev flags"); a bad
// value is a usage error.
func TestDevFlagsRateLimit(t *testing.T) {
	t.Parallel()
	devFlagsOf := func(args ...string) (devstack.Config, string, error) {
		var stderr bytes.Buffer
		cfg, _, _, err := devFlags(&Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}, args)
		return cfg, stderr.String(), err
	}
	cfg, _, err := devFlagsOf()
	require.NoError(t, err)
	require.Zero(t, cfg.RateLimit, "off in dev by default")
	require.Equal(t, devstack.APIKeyDefault, cfg.APIKey)
	require.Equal(t, devstack.AdminKeyDefault, cfg.AdminKey, "the dev keys stay short: no minimum length in dev")

	cfg, _, err = devFlagsOf("--rate-limit", "5", "--api-key", "k", "--log-level", "debug")
	require.NoError(t, err)
	require.Equal(t, 5, cfg.RateLimit)
	require.Equal(t, "k", cfg.APIKey)

	_, stderr, err := devFlagsOf("--rate-limit", "-1")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, "--rate-limit must be 0 to 1000000, got -1")

	_, _, err = devFlagsOf("--log-level", "loud")
	require.ErrorContains(t, err, "--log-level")
	_, level, pprof, err := devFlags(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }},
		[]string{"--log-level", "error", "--pprof", "127.0.0.1:0"})
	require.NoError(t, err)
	require.Equal(t, slog.LevelError, level)
	require.Equal(t, "127.0.0.1:0", pprof)
}
