package main

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/platform"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// Config is the ingest service's configuration: platform's shared
// variables and the API's keys. The keys are secrets: never logged, and
// errors about them do not quote them.
type Config struct {
	platform.Config
	// AdminKey is the bearer token of the /v1/admin routes
	// (AIPROD_ADMIN_KEY); "" and the admin routes refuse.
	AdminKey string
	// BootstrapProject and BootstrapKey are an API key seeded at start,
	// idempotently (AIPROD_BOOTSTRAP_API_KEY, "project:key", both parts
	// non-empty); "" seeds nothing.
	BootstrapProject, BootstrapKey string
	// Secrets seals the projects' webhook signing secrets
	// (AIPROD_SECRETS_KEY, platform.SecretBox); nil and POST
	// /v1/admin/projects/{project}/webhook-secret answers 404.
	Secrets *secretbox.Box
	// AllowPrivateNetworks is api.Config.AllowPrivateNetworks
	// (AIPROD_ALLOW_PRIVATE_NETWORKS, default false): job webhook_urls and
	// alert destinations on private networks are accepted (tests, dev).
	AllowPrivateNetworks bool
}

// FromEnv reads the ingest service's configuration through getenv; the
// error names every bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	v := platform.NewVars(getenv)
	c := Config{Config: platform.ReadConfig(v), AdminKey: v.Get("AIPROD_ADMIN_KEY"),
		Secrets:              v.SecretBox(platform.SecretsKeyVar),
		AllowPrivateNetworks: v.Bool(netguard.EnvAllowPrivateNetworks, false)}
	if s := v.Get("AIPROD_BOOTSTRAP_API_KEY"); s != "" {
		project, key, ok := strings.Cut(s, ":")
		if !ok || project == "" || key == "" {
			v.Fail("AIPROD_BOOTSTRAP_API_KEY", "want project:key, both non-empty (the value is a secret: not shown)")
		} else {
			c.BootstrapProject, c.BootstrapKey = project, key
		}
	}
	return c, v.Err()
}
