package backendtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// RequireClassified asserts that err is of class, carries exactly the
// Retry-After hint retryAfter (0: none), and does not hold secret. Adapter
// tests against canned provider answers use it for every error they expect.
func RequireClassified(t testing.TB, err, class error, retryAfter time.Duration, secret string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, class, errclass.Of(err), err)
	d, ok := errclass.RetryAfter(err)
	require.Equal(t, retryAfter != 0, ok, "Retry-After hint present: %v", err)
	require.Equal(t, retryAfter, d)
	if secret != "" {
		require.NotContains(t, err.Error(), secret)
	}
}
