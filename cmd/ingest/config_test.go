package main

import (
	"strings"
	"testing"

	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// TestFromEnv covers the ingest service's own variables; platform's
// TestFromEnvSharedVariables covers the shared ones (one of them here shows
// that FromEnv reads them).
func TestFromEnv(t *testing.T) {
	t.Parallel()
	// Errors never quote a key: it is a secret.
	const badKey = "AIPROD_BOOTSTRAP_API_KEY: want project:key, both non-empty (the value is a secret: not shown)"
	long := strings.Repeat("k", MinKeyLen)    // the shortest key accepted
	short := strings.Repeat("k", MinKeyLen-1) // one too short
	const badSecretsKey = "AIPROD_SECRETS_KEY: want the standard base64 of 32 random bytes, e.g. from `openssl rand -base64 32` (the value is a secret: not shown)"
	platformtest.Check(t, FromEnv,
		platformtest.Variable("AIPROD_ADMIN_KEY", func(c Config) any { return c.AdminKey },
			platformtest.Unset(""),
			platformtest.Set(long, long),
			platformtest.Set(long+":more", long+":more"),
			platformtest.Bad("s3cret", "AIPROD_ADMIN_KEY: must be at least 32 characters, got 6 (the value is a secret: not shown)"),
			platformtest.Bad(short, "AIPROD_ADMIN_KEY: must be at least 32 characters, got 31 (the value is a secret: not shown)")),
		platformtest.Variable("AIPROD_BOOTSTRAP_API_KEY", func(c Config) any { return [2]string{c.BootstrapProject, c.BootstrapKey} },
			platformtest.Unset([2]string{"", ""}),
			platformtest.Set("dev:"+long, [2]string{"dev", long}),
			platformtest.Set("dev:key:with:colons:"+long, [2]string{"dev", "key:with:colons:" + long}),
			platformtest.Bad("dev-key", badKey),
			platformtest.Bad(":"+long, badKey),
			platformtest.Bad("dev:", badKey),
			platformtest.Bad("dev:dev-key", "AIPROD_BOOTSTRAP_API_KEY: the key after the colon must be at least 32 characters, "+
				"got 7 (the value is a secret: not shown)"),
			platformtest.Bad("dev:"+short, "AIPROD_BOOTSTRAP_API_KEY: the key after the colon must be at least 32 characters, "+
				"got 31 (the value is a secret: not shown)")),
		platformtest.Variable("AIPROD_RATE_LIMIT", func(c Config) any { return c.RateLimit },
			platformtest.Unset(RateLimitDefault),
			platformtest.Set("0", 0),
			platformtest.Set("200", 200),
			platformtest.Set("1000000", 1000000),
			platformtest.Bad("-1", `AIPROD_RATE_LIMIT: "-1" must be between 0 and 1000000`),
			platformtest.Bad("1000001", `AIPROD_RATE_LIMIT: "1000001" must be between 0 and 1000000`),
			platformtest.Bad("fast", `AIPROD_RATE_LIMIT: "fast" is not a whole number`),
			platformtest.Bad("2.5", `AIPROD_RATE_LIMIT: "2.5" is not a whole number`)),
		platformtest.Variable("AIPROD_SECRETS_KEY", func(c Config) any { return c.Secrets != nil },
			platformtest.Unset(false),
			platformtest.Set(secretbox.NewKey(), true),
			platformtest.Bad("c2hvcnQ=", badSecretsKey),
			platformtest.Bad("not base64!", badSecretsKey)),
		platformtest.Variable("AIPROD_ALLOW_PRIVATE_NETWORKS", func(c Config) any { return c.AllowPrivateNetworks },
			platformtest.Unset(false),
			platformtest.Set("true", true),
			platformtest.Bad("yes please", `AIPROD_ALLOW_PRIVATE_NETWORKS: "yes please" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_CONSOLE", func(c Config) any { return c.Console },
			platformtest.Unset(true),
			platformtest.Set("false", false),
			platformtest.Bad("off", `AIPROD_CONSOLE: "off" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_LOG_LEVEL", func(c Config) any { return c.LogLevel.String() },
			platformtest.Set("debug", "DEBUG"),
			platformtest.Bad("loud", `AIPROD_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`)),
	)
}
