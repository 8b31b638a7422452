package main

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// Defaults and limits of the ingest service's variables.
const (
	// RateLimitDefault is AIPROD_RATE_LIMIT's default: requests a second
	// per API key (api.Config.RateLimit; its burst is twice that).
	RateLimitDefault = 50
	// MinKeyLen is the shortest admin key (AIPROD_ADMIN_KEY) and bootstrap
	// API key (the key of AIPROD_BOOTSTRAP_API_KEY) the service accepts:
	// 32 characters, e.g. `openssl rand -hex 32` (64). The dev stack's
	// dev-key and dev-admin are not read from here.
	MinKeyLen = 32
)

// Config is the ingest service's configuration: platform's shared
// variables and the API's keys and rate limit. The keys are secrets:
// never logged, and errors about them do not quote them.
type Config struct {
	platform.Config
	// AdminKey is the bearer token of the /v1/admin routes
	// (AIPROD_ADMIN_KEY, at least MinKeyLen characters); "" and the admin
	// routes refuse.
	AdminKey string
	// BootstrapProject and BootstrapKey are an API key seeded at start,
	// idempotently (AIPROD_BOOTSTRAP_API_KEY, "project:key", the project
	// non-empty and the key at least MinKeyLen characters); "" seeds
	// nothing.
	BootstrapProject, BootstrapKey string
	// RateLimit is how many requests a second each API key may send
	// (AIPROD_RATE_LIMIT, 0 to api.RateLimitMax, default RateLimitDefault;
	// 0: no limit).
	RateLimit int
	// Secrets seals the projects' webhook signing secrets
	// (AIPROD_SECRETS_KEY, platform.SecretBox); nil and POST
	// /v1/admin/projects/{project}/webhook-secret answers 404.
	Secrets *secretbox.Box
	// AllowPrivateNetworks is api.Config.AllowPrivateNetworks
	// (AIPROD_ALLOW_PRIVATE_NETWORKS, default false): job webhook_urls and
	// alert destinations on private networks are accepted (tests, dev).
	AllowPrivateNetworks bool
	// Console serves the web console at /console (AIPROD_CONSOLE, default
	// true; false: /console is a 404 like any unknown path).
	Console bool
}

// FromEnv reads the ingest service's configuration through getenv; the
// error names every bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	v := platform.NewVars(getenv)
	c := Config{
		Config:               platform.ReadConfig(v),
		AdminKey:             v.Get("AIPROD_ADMIN_KEY"),
		RateLimit:            v.Int("AIPROD_RATE_LIMIT", RateLimitDefault, 0, api.RateLimitMax),
		Secrets:              v.SecretBox(platform.SecretsKeyVar),
		AllowPrivateNetworks: v.Bool(netguard.EnvAllowPrivateNetworks, false),
		Console:              v.Bool("AIPROD_CONSOLE", true),
	}
	if c.AdminKey != "" && len(c.AdminKey) < MinKeyLen {
		v.Fail("AIPROD_ADMIN_KEY", "must be at least %d characters, got %d (the value is a secret: not shown)", MinKeyLen, len(c.AdminKey))
		c.AdminKey = ""
	}
	if s := v.Get("AIPROD_BOOTSTRAP_API_KEY"); s != "" {
		project, key, ok := strings.Cut(s, ":")
		switch {
		case !ok || project == "" || key == "":
			v.Fail("AIPROD_BOOTSTRAP_API_KEY", "want project:key, both non-empty (the value is a secret: not shown)")
		case len(key) < MinKeyLen:
			v.Fail("AIPROD_BOOTSTRAP_API_KEY", "the key after the colon must be at least %d characters, got %d (the value is a secret: not shown)",
				MinKeyLen, len(key))
		default:
			c.BootstrapProject, c.BootstrapKey = project, key
		}
	}
	return c, v.Err()
}
