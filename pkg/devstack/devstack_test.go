package devstack

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/netguard"
)

// TestSimsEnvAllowsPrivateNetworks: a worker process started with the
// simulators' environment may download their videos, served on loopback.
func TestSimsEnvAllowsPrivateNetworks(t *testing.T) {
	t.Parallel()
	env := (&Sims{Catalog: catalog.Default()}).Env()
	require.Contains(t, env, netguard.EnvAllowPrivateNetworks+"=true")
}
