package secretbox_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/secretbox"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	b, err := secretbox.Parse(key)
	require.NoError(t, err)
	const secret = "whsec_c2VjcmV0LWtleS1ieXRlcw=="
	sealed := b.Seal(secret, "webhook-secret/acme")
	require.True(t, strings.HasPrefix(sealed, "v1:"))
	require.NotContains(t, sealed, secret)
	require.NotEqual(t, sealed, b.Seal(secret, "webhook-secret/acme"), "a fresh nonce each time")

	got, err := b.Open(sealed, "webhook-secret/acme")
	require.NoError(t, err)
	require.Equal(t, secret, got)

	// Another context (another project's record), another key, a damaged
	// or foreign value: ErrOpen, which says nothing of the secret or key.
	other, err := secretbox.Parse(secretbox.NewKey())
	require.NoError(t, err)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	raw[len(raw)-1] ^= 1
	for name, open := range map[string]func() (string, error){
		"other context": func() (string, error) { return b.Open(sealed, "webhook-secret/other") },
		"other key":     func() (string, error) { return other.Open(sealed, "webhook-secret/acme") },
		"flipped bit": func() (string, error) {
			return b.Open("v1:"+base64.StdEncoding.EncodeToString(raw), "webhook-secret/acme")
		},
		"no version": func() (string, error) { return b.Open(strings.TrimPrefix(sealed, "v1:"), "webhook-secret/acme") },
		"too short":  func() (string, error) { return b.Open("v1:AAAA", "webhook-secret/acme") },
		"not base64": func() (string, error) { return b.Open("v1:%%%", "webhook-secret/acme") },
	} {
		pt, err := open()
		require.ErrorIs(t, err, secretbox.ErrOpen, name)
		require.Empty(t, pt, name)
		require.NotContains(t, err.Error(), key, name)
	}
}

func TestParseRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 16)), "%%%not base64%%%"} {
		_, err := secretbox.Parse(k)
		require.ErrorIs(t, err, secretbox.ErrBadKey, "%q", k)
	}
	_, err := secretbox.Parse(" " + secretbox.NewKey() + "\n")
	require.NoError(t, err, "spaces around the key are ignored")
}
