package main

import (
	"testing"
	"time"

	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/platform/platformtest"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// TestFromEnv covers the notifier's own variables; platform's
// TestFromEnvSharedVariables covers the shared ones.
func TestFromEnv(t *testing.T) {
	t.Parallel()
	// Neither error quotes the value: it is a secret.
	const badKey = "AIPROD_SECRETS_KEY: want the standard base64 of 32 random bytes, e.g. from `openssl rand -base64 32` (the value is a secret: not shown)"
	const noKey = "AIPROD_SECRETS_KEY is required: the key that seals the projects' webhook secrets (the standard base64 of 32 random bytes)"
	key := secretbox.NewKey()
	platformtest.Check(t, withKey(key),
		platformtest.Variable("AIPROD_SECRETS_KEY", func(c Config) any { return c.Secrets != nil },
			platformtest.Set(secretbox.NewKey(), true),
			platformtest.Bad("c2hvcnQ=", badKey),
			platformtest.Bad("not base64!", badKey),
			platformtest.Bad(" ", noKey)),
		platformtest.Variable("AIPROD_WEBHOOK_MAX_IN_FLIGHT", func(c Config) any { return c.MaxInFlight },
			platformtest.Unset(notifier.MaxInFlightDefault),
			platformtest.Set("8", 8),
			platformtest.Bad("0", `AIPROD_WEBHOOK_MAX_IN_FLIGHT: "0" must be between 1 and 10000`),
			platformtest.Bad("many", `AIPROD_WEBHOOK_MAX_IN_FLIGHT: "many" is not a whole number`)),
		platformtest.Variable("AIPROD_ALLOW_PRIVATE_NETWORKS", func(c Config) any { return c.Network.AllowPrivate },
			platformtest.Unset(false),
			platformtest.Set("true", true),
			platformtest.Bad("sometimes", `AIPROD_ALLOW_PRIVATE_NETWORKS: "sometimes" is not a boolean (true or false)`)),
		platformtest.Variable("AIPROD_WEBHOOK_MAX_PER_HOST", func(c Config) any { return c.MaxPerHost },
			platformtest.Unset(notifier.MaxPerHostDefault),
			platformtest.Set("1", 1),
			platformtest.Bad("-2", `AIPROD_WEBHOOK_MAX_PER_HOST: "-2" must be between 1 and 1000`)),
		platformtest.Variable("AIPROD_WEBHOOK_RETRY_DELAYS", func(c Config) any { return c.Retries.Delays },
			platformtest.Unset(notifier.ScheduleDefault.Delays),
			platformtest.Set("1s, 2s,5m", []time.Duration{time.Second, 2 * time.Second, 5 * time.Minute}),
			platformtest.Bad("1s,soon", `AIPROD_WEBHOOK_RETRY_DELAYS: "soon" is not a positive duration (e.g. 5s, 5m): want a comma-separated list such as 5s,5m,30m`),
			platformtest.Bad("1s,0s", `AIPROD_WEBHOOK_RETRY_DELAYS: "0s" is not a positive duration (e.g. 5s, 5m): want a comma-separated list such as 5s,5m,30m`),
			platformtest.Bad("1s,,2s", `AIPROD_WEBHOOK_RETRY_DELAYS: "1s,,2s" has an empty item: want a comma-separated list such as a,b`)),
		platformtest.Variable("AIPROD_WEBHOOK_RETRY_WINDOW", func(c Config) any { return c.Retries.Window },
			platformtest.Unset(notifier.ScheduleDefault.Window),
			platformtest.Set("10m", 10*time.Minute),
			platformtest.Bad("0s", `AIPROD_WEBHOOK_RETRY_WINDOW: "0s" must be at least 1s`)),
	)
}

// withKey is FromEnv with AIPROD_SECRETS_KEY set to key unless the case
// sets it (the variable is required, so the other cases need one).
func withKey(key string) func(func(string) string) (Config, error) {
	return func(getenv func(string) string) (Config, error) {
		return FromEnv(func(name string) string {
			if name == "AIPROD_SECRETS_KEY" && getenv(name) == "" {
				return key
			}
			return getenv(name)
		})
	}
}

// TestSecretsKeyRequired: without AIPROD_SECRETS_KEY the notifier does not
// start, and says which variable is missing.
func TestSecretsKeyRequired(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(platformtest.Getenv(platformtest.Base()))
	if err == nil || err.Error() != "AIPROD_SECRETS_KEY is required: the key that seals the projects' webhook secrets (the standard base64 of 32 random bytes)" {
		t.Fatalf("FromEnv without AIPROD_SECRETS_KEY: %v", err)
	}
}
