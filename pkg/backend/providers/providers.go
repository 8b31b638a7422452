// Package providers builds the backend adapter for each catalog entry: it
// is the one place that knows which adapter serves which provider protocol
// and which environment variables hold their credentials.
//
// # Credentials
//
//	runway     RUNWAYML_API_SECRET   (or the catalog's credential_env)
//	luma       LUMAAI_API_KEY
//	replicate  REPLICATE_API_TOKEN
//	fal        FAL_KEY
//	veo        Application Default Credentials (a service account on Cloud Run);
//	           AIPROD_VEO_LOCATION (default us-central1) and
//	           AIPROD_VEO_STORAGE_URI (gs://bucket/prefix for outputs, required);
//	           AIPROD_VEO_STATIC_TOKEN (a fixed token, for simulators only)
//
// Keys are read once at start-up and handed to the adapters; they never
// appear in errors or logs.
package providers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/fal"
	"github.com/aiprod/aiprod/pkg/backend/luma"
	"github.com/aiprod/aiprod/pkg/backend/replicate"
	"github.com/aiprod/aiprod/pkg/backend/runway"
	"github.com/aiprod/aiprod/pkg/backend/veo"
	"github.com/aiprod/aiprod/pkg/catalog"
)

// Environment variables of the Veo adapter.
const (
	EnvVeoLocation   = "AIPROD_VEO_LOCATION"
	EnvVeoStorageURI = "AIPROD_VEO_STORAGE_URI"
	// EnvVeoStaticToken replaces Application Default Credentials with a
	// fixed bearer token: only for simulators.
	EnvVeoStaticToken = "AIPROD_VEO_STATIC_TOKEN"
)

// Options are the settings shared by every adapter.
type Options struct {
	// Getenv reads credentials; required.
	Getenv func(string) string
	// Project is the Google Cloud project (for Veo on Vertex AI).
	Project string
	// HTTPClient is shared by the adapters; each adapter's default when nil.
	HTTPClient *http.Client
	// PollInterval overrides every adapter's poll interval when > 0 (the dev
	// stack polls its simulators quickly).
	PollInterval time.Duration
	// VeoTokenSource overrides Application Default Credentials (dev stack).
	VeoTokenSource oauth2.TokenSource
}

// New returns the adapter for one catalog backend.
func New(ctx context.Context, b catalog.Backend, o Options) (backend.Backend, error) {
	key := ""
	if b.CredentialEnv != "" {
		key = o.Getenv(b.CredentialEnv)
	}
	var (
		be  backend.Backend
		err error
	)
	switch b.Provider {
	case "runway":
		be, err = runway.New(runway.Config{Endpoint: b.Endpoint, APIKey: key, HTTPClient: o.HTTPClient, PollInterval: o.PollInterval})
	case "luma":
		be, err = luma.New(luma.Config{Endpoint: b.Endpoint, APIKey: key, HTTPClient: o.HTTPClient, PollInterval: o.PollInterval})
	case "replicate":
		be, err = replicate.New(replicate.Config{Endpoint: b.Endpoint, APIKey: key, HTTPClient: o.HTTPClient, PollInterval: o.PollInterval})
	case "fal":
		be, err = fal.New(fal.Config{Endpoint: b.Endpoint, APIKey: key, HTTPClient: o.HTTPClient, PollInterval: o.PollInterval})
	case "veo":
		cfg := veo.Config{
			Endpoint: b.Endpoint, Project: o.Project,
			Location:   cmp.Or(o.Getenv(EnvVeoLocation), veo.LocationDefault),
			StorageURI: o.Getenv(EnvVeoStorageURI), TokenSource: o.VeoTokenSource,
			HTTPClient: o.HTTPClient, PollInterval: o.PollInterval,
		}
		if tok := o.Getenv(EnvVeoStaticToken); cfg.TokenSource == nil && tok != "" {
			cfg.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
		}
		if cfg.TokenSource == nil {
			be, err = veo.NewDefault(ctx, cfg)
		} else {
			be, err = veo.New(cfg)
		}
	default:
		return nil, fmt.Errorf("backend %s: no adapter for provider %q", b.Name, b.Provider)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s (%s): %w", b.Name, b.Provider, err)
	}
	return be, nil
}

// NewAll returns the adapters of the named backends (every catalog backend
// when names is empty), keyed by backend name.
func NewAll(ctx context.Context, c *catalog.Catalog, names []string, o Options) (map[string]backend.Backend, error) {
	if len(names) == 0 {
		names = c.Names()
	}
	out := make(map[string]backend.Backend, len(names))
	for _, n := range names {
		b := c.Backend(n)
		if b == nil {
			return nil, fmt.Errorf("backend %q is not in the catalog (have %v)", n, c.Names())
		}
		be, err := New(ctx, *b, o)
		if err != nil {
			return nil, err
		}
		out[n] = be
	}
	return out, nil
}
