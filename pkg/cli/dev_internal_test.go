package cli

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
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
		f, err := parseDev(env, argv)
		require.NoError(t, err, args)
		require.Equal(t, refuse, f.cfg.RefusePrivateNetworks, args)
	}
	_, err := parseDev(env, []string{"--allow-private-networks=maybe"})
	require.Error(t, err)
}
