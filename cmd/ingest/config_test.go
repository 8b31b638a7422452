package main

import (
	"testing"

	"github.com/aiprod/aiprod/pkg/platform/platformtest"
)

// TestFromEnv covers the ingest service's own variables; platform's
// TestFromEnvSharedVariables covers the shared ones (one of them here shows
// that FromEnv reads them).
func TestFromEnv(t *testing.T) {
	t.Parallel()
	// The error never quotes the value: it is a secret.
	const badKey = "AIPROD_BOOTSTRAP_API_KEY: want project:key, both non-empty (the value is a secret: not shown)"
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
		platformtest.Variable("AIPROD_RATE_LIMIT", func(c Config) any { return c.RateLimit },
			platformtest.Unset(RateLimitDefault),
			platformtest.Set("0", 0),
			platformtest.Set("200", 200),
			platformtest.Set("1000000", 1000000),
			platformtest.Bad("-1", `AIPROD_RATE_LIMIT: "-1" must be between 0 and 1000000`),
			platformtest.Bad("1000001", `AIPROD_RATE_LIMIT: "1000001" must be between 0 and 1000000`),
			platformtest.Bad("fast", `AIPROD_RATE_LIMIT: "fast" is not a whole number`),
			platformtest.Bad("2.5", `AIPROD_RATE_LIMIT: "2.5" is not a whole number`)),
		platformtest.Variable("AIPROD_LOG_LEVEL", func(c Config) any { return c.LogLevel.String() },
			platformtest.Set("debug", "DEBUG"),
			platformtest.Bad("loud", `AIPROD_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`)),
	)
}
