package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// FuzzBearer feeds bearer any Authorization header: it never panics; what
// it accepts is the trimmed, non-empty text after a "Bearer" scheme of any
// case; what it refuses is an errclass.Unauthenticated error that does not
// repeat the header (it may hold a key).
func FuzzBearer(f *testing.F) {
	for _, h := range []string{
		"Bearer dev-key", "bearer aiprod_AbCdEfGh0123456789aBcDeFgH0123456789aBcDeFg", "BEARER  spaced  ", "Bearer",
		"Bearer ", "Bearer\tkey", "Basic dXNlcjpwYXNz", "Key fal-key", " Bearer key", "Bearer key with spaces",
		"Bearer \x00\xff", "", "Bearer\u00a0key", "Bearer key\r\n",
		" Bearer <", // a malformed header that is part of the error text
	} {
		f.Add(h)
	}
	_, malformed := bearer(&http.Request{Header: http.Header{"Authorization": {"Basic x"}}})
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{}}
		if h != "" {
			r.Header["Authorization"] = []string{h}
		}
		token, err := bearer(r)
		if err != nil {
			require.ErrorIs(t, err, errclass.Unauthenticated)
			require.Empty(t, token)
			if h != "" {
				// The same text for every malformed header: none of it is repeated.
				require.EqualError(t, err, malformed.Error())
			}
			return
		}
		scheme, rest, ok := strings.Cut(h, " ")
		require.True(t, ok)
		require.True(t, strings.EqualFold(scheme, "Bearer"), "scheme %q accepted", scheme)
		require.NotEmpty(t, token)
		require.Equal(t, strings.TrimSpace(rest), token)
		require.Equal(t, strings.TrimSpace(token), token, "token keeps surrounding space")
	})
}
