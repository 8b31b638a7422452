package sim

import (
	"net/http"
	"strconv"
	"strings"
)

// RetryAfterSeconds is the Retry-After every simulator sends with an
// injected 429.
const RetryAfterSeconds = 1

// Gate is what every simulated provider API does before serving a protocol
// call, in this order: the first request's origin becomes the base URL of
// video links when none is set (Config.BaseURL, SetBaseURL); the core's
// injected faults fail the call (with "Retry-After: RetryAfterSeconds" on
// 429); the Authorization header must carry one of Schemes and a non-empty
// credential, the one set with Core.SetCredential when there is one (401
// otherwise). A Gate is a value: configure it once, then Wrap handlers; it is
// safe for concurrent use.
type Gate struct {
	// Core holds the faults and the credential.
	Core *Core
	// Schemes are the accepted Authorization schemes, e.g. "Bearer", or
	// "Bearer" and "Token".
	Schemes []string
	// Error answers status in the provider's error shape. It is called for
	// injected faults and for 401.
	Error func(w http.ResponseWriter, status int)
	// Check, when set, runs after the credential check: it answers the call
	// itself and returns false to stop it (Runway's API version header).
	Check func(w http.ResponseWriter, r *http.Request) bool
}

// Wrap returns h behind the gate.
func (g Gate) Wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.Core.setBaseURLIfEmpty(Origin(r))
		if code := g.Core.Inject(); code != 0 {
			if code == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			}
			g.Error(w, code)
			return
		}
		if !g.authorized(r.Header.Get("Authorization")) {
			g.Error(w, http.StatusUnauthorized)
			return
		}
		if g.Check != nil && !g.Check(w, r) {
			return
		}
		h(w, r)
	}
}

func (g Gate) authorized(header string) bool {
	want := g.Core.Credential()
	for _, scheme := range g.Schemes {
		cred, ok := strings.CutPrefix(header, scheme+" ")
		if ok && strings.TrimSpace(cred) != "" && (want == "" || cred == want) {
			return true
		}
	}
	return false
}

// Origin is the scheme and host a request was sent to, such as
// "http://127.0.0.1:8080": simulators build the absolute URLs they answer
// with on it.
func Origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
