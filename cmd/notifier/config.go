package main

import (
	"time"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// Config is the notifier's configuration: platform's shared variables and
// the notifier's own. The secrets key is a secret: never logged, and errors
// about it do not quote it.
type Config struct {
	platform.Config
	// Secrets opens the projects' webhook signing secrets
	// (AIPROD_SECRETS_KEY, required: the notifier signs every webhook, so
	// it does not start without it).
	Secrets *secretbox.Box
	// MaxInFlight bounds the webhook requests in flight
	// (AIPROD_WEBHOOK_MAX_IN_FLIGHT, at least 1, default
	// notifier.MaxInFlightDefault).
	MaxInFlight int
	// MaxPerHost bounds those to one host (AIPROD_WEBHOOK_MAX_PER_HOST, at
	// least 1, default notifier.MaxPerHostDefault).
	MaxPerHost int
	// Retries is the webhook retry schedule: AIPROD_WEBHOOK_RETRY_DELAYS
	// (the delays after the first, second… failed attempt, the last one
	// repeating) and AIPROD_WEBHOOK_RETRY_WINDOW (no attempt after it);
	// default notifier.ScheduleDefault, Standard Webhooks' own.
	Retries notifier.Schedule
	// Network guards every webhook request: its AllowPrivate is
	// AIPROD_ALLOW_PRIVATE_NETWORKS (default false: loopback, private and
	// link-local addresses are refused at dial time).
	Network netguard.Policy
	// Alerts are the operator-alert channels' accounts (SMTP, Twilio) and
	// the operations channel (AIPROD_OPS_*; alert.Env lists them); every
	// channel is optional.
	Alerts alert.Channels
	Ops    alert.Settings
}

// FromEnv reads the notifier's configuration through getenv; the error
// names every bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	v := platform.NewVars(getenv)
	c := Config{
		Config: platform.ReadConfig(v),
		Secrets: v.RequiredSecretBox(platform.SecretsKeyVar,
			"the key that seals the projects' webhook secrets (the standard base64 of 32 random bytes)"),
		MaxInFlight: v.Int("AIPROD_WEBHOOK_MAX_IN_FLIGHT", notifier.MaxInFlightDefault, 1, 10_000),
		MaxPerHost:  v.Int("AIPROD_WEBHOOK_MAX_PER_HOST", notifier.MaxPerHostDefault, 1, 1_000),
		Network:     netguard.Policy{AllowPrivate: v.Bool(netguard.EnvAllowPrivateNetworks, false)},
		Retries: notifier.Schedule{
			Delays: v.Durations("AIPROD_WEBHOOK_RETRY_DELAYS", notifier.ScheduleDefault.Delays),
			Window: v.Duration("AIPROD_WEBHOOK_RETRY_WINDOW", notifier.ScheduleDefault.Window, time.Second, platform.MaxDuration),
		},
	}
	c.Alerts, c.Ops = alert.FromVars(v, c.Network.AllowPrivate)
	return c, v.Err()
}
