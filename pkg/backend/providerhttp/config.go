package providerhttp

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Settings are the configuration fields every adapter has and validates
// alike. Adapters copy them out of their own Config.
type Settings struct {
	Endpoint     string        // API base URL: must be an absolute http(s) URL
	PollInterval time.Duration // must not be negative
	// APIKey is required (not blank) when KeyEnv, the environment variable
	// that conventionally holds it, is set; adapters that take no API key
	// (Veo's token source) leave both empty.
	APIKey string
	KeyEnv string
}

// Validate returns the first unusable field, as "<provider>: Config.<Field>
// ...", naming the variable that holds the key.
func (s Settings) Validate(provider string) error {
	if s.KeyEnv != "" && strings.TrimSpace(s.APIKey) == "" {
		return fmt.Errorf("%s: Config.APIKey is required (set %s)", provider, s.KeyEnv)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s: Config.Endpoint must be an absolute http(s) URL, got %q", provider, s.Endpoint)
	}
	if s.PollInterval < 0 {
		return fmt.Errorf("%s: Config.PollInterval must not be negative, got %s", provider, s.PollInterval)
	}
	return nil
}

// HTTPTimeoutDefault bounds one API call of an adapter whose Config leaves
// its HTTP client nil.
const HTTPTimeoutDefault = 60 * time.Second

// HTTPClientOr returns c, or a new client with HTTPTimeoutDefault when c is
// nil.
func HTTPClientOr(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: HTTPTimeoutDefault}
}

// PathSegment returns h, trimmed, when it can stand as one segment of a
// request path: not empty, at most 128 bytes, none of "/?#%" or spaces, so
// that a handle can never steer a call to another path. Otherwise it is a
// Permanent error "<provider>: invalid handle ...: want <what>".
func PathSegment(provider, h, what string) (string, error) {
	id := strings.TrimSpace(h)
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/?#% \t") {
		return "", errclass.New(errclass.Permanent, "%s: invalid handle %q: want %s", provider, Clip(h), what)
	}
	return id, nil
}
