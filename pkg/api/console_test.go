package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/console"
)

func TestConsoleIsMounted(t *testing.T) {
	t.Parallel()
	// A rate limit of 1 a second (burst 2), which the key's project
	// routes meet at once and the console's files never do.
	e := setup(t, func(c *api.Config) { c.Console = console.MustNew(); c.RateLimit = 1 })
	e.clock.freeze() // no refill
	for range 3 {
		for _, p := range []string{"/console", "/console/", "/console/assets/app.js", "/console/assets/console.css"} {
			for _, key := range []string{"", keyA} { // no key needed; a key changes nothing
				r := e.do(http.MethodGet, p, key, "")
				require.Equal(t, http.StatusOK, r.status, p)
				require.Equal(t, console.ContentSecurityPolicy, r.header.Get("Content-Security-Policy"), p)
				require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), p)
			}
		}
	}
	limited := false
	for range 5 {
		limited = limited || e.do(http.MethodGet, "/v1/budget", keyA, "").status == http.StatusTooManyRequests
	}
	require.True(t, limited, "the limit is on: the project routes meet it")
	require.Equal(t, "text/html; charset=utf-8", e.do(http.MethodGet, "/console", "", "").header.Get("Content-Type"))

	// An unknown asset is the console's 404; the rest stays the API's JSON.
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/console/assets/nope.js", "", "").status)
	requireError(t, e.do(http.MethodGet, "/console/nope", "", ""), http.StatusNotFound, "not_found", "")
	r := e.do(http.MethodPost, "/console", "", "")
	requireError(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
	require.Equal(t, "GET, HEAD", r.header.Get("Allow"))
	requireError(t, e.do(http.MethodGet, "/v1/nope", keyA, ""), http.StatusNotFound, "not_found", "")
	requireError(t, e.do(http.MethodPost, "/v1/budget", keyA, ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
	requireError(t, e.do(http.MethodGet, "/v1/budget", "", ""), http.StatusUnauthorized, "unauthenticated", "")
}

func TestConsoleOffIsNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, p := range []string{"/console", "/console/", "/console/assets/app.js"} {
		requireError(t, e.do(http.MethodGet, p, "", ""), http.StatusNotFound, "not_found", "")
	}
}
