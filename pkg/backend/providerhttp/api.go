package providerhttp

import (
	"net/http"
	"time"
)

// API describes a provider API that takes a static API key: what an
// adapter tells this package once, as a package variable, instead of
// filling a Client and Settings by hand for every backend it builds. Its
// zero MaxBody and nil Header and Problem mean what they mean on Client.
type API struct {
	Provider string                  // "runway": starts every error text
	Scheme   string                  // the key's Authorization scheme: "Bearer", "Key"
	KeyEnv   string                  // the variable that conventionally holds the key
	Header   http.Header             // sent with every call, such as an API version
	MaxBody  int                     // Client.MaxBody
	Problem  func(*Response) Problem // Client.Problem
}

// Client returns the Client that sends a's calls over hc with key, as
// "Authorization: <Scheme> <key>". The text of a 401 or 403 error says the
// key was refused and names KeyEnv.
func (a API) Client(hc *http.Client, key string) *Client {
	return &Client{
		Provider:   a.Provider,
		HTTP:       hc,
		Credential: StaticKey{Scheme: a.Scheme, Key: key},
		Header:     a.Header,
		MaxBody:    a.MaxBody,
		Problem:    a.Problem,
		AuthHint:   "the API key was refused; check " + a.KeyEnv,
	}
}

// Validate checks the settings every adapter of a has, as Settings.Validate
// does, with the key required and KeyEnv named when it is blank.
func (a API) Validate(endpoint string, pollInterval time.Duration, key string) error {
	return Settings{Endpoint: endpoint, PollInterval: pollInterval, APIKey: key, KeyEnv: a.KeyEnv}.Validate(a.Provider)
}
