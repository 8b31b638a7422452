package main

import (
	"testing"

	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// TestFromEnv covers the ingest service's own variables; platform's
// TestFromEnvSharedVariables covers the shared ones (one of them here shows
// that FromEnv reads them).
func TestFromEnv(t *testing.T) {
	t.Parallel()
	// The error never quotes the value: it is a secret.
	const badKey = "AIPROD_BOOTSTRAP_API_KEY: want project:key, both non-empty (the value is a secret: not shown)"
	const badSecretsKey = "AIPROD_SECRETS_KEY: want the standard base64 of 32 random bytes, e.g. from `openssl rand -base64 32` (the value is a secret: not shown)"
	platformtest.Check(t, FromEnv,
		platformtest.Variable("AIPROD_ADMIN_KEY", func(c Config) any { return c.AdminKey },
			platformtest.Unset(""),
			platformtest.Set("s3cret", "s3cret")),
		platformtest.Variable("AIPROD_BOOTSTRAP_API_KEY", func(c Config) any { return [2]string{c.BootstrapProject, c.BootstrapKey} },
			platformtest.Unset([2]string{"", ""}),
			platformtest.Set("dev:dev-key", [2]string{"dev", "dev-key"}),
			platformtest.Set("dev:key:with:colons", [2]string{"dev", "key:with:colons"}),
			platformtest.Bad("dev-key", badKey),
			platformtest.Bad(":dev-key", badKey),
			platformtest.Bad("dev:", badKey)),
		platformtest.Variable("AIPROD_SECRETS_KEY", func(c Config) any { return c.Secrets != nil },
			platformtest.Unset(false),
			platformtest.Set(secretbox.NewKey(), true),
			platformtest.Bad("c2hvcnQ=", badSecretsKey),
			platformtest.Bad("not base64!", badSecretsKey)),
		platformtest.Variable("AIPROD_ALLOW_PRIVATE_NETWORKS", func(c Config) any { return c.AllowPrivateNetworks },
			platformtest.Unset(false),
			platformtest.Set("true", true),
			platformtest.Bad("yes please", `AIPROD_ALLOW_PRIVATE_NETWORKS: "yes please" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_LOG_LEVEL", func(c Config) any { return c.LogLevel.String() },
			platformtest.Set("debug", "DEBUG"),
			platformtest.Bad("loud", `AIPROD_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`)),
	)
}
