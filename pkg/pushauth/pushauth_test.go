package pushauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/pushauth"
	"github.com/aiprod/aiprod/pkg/pushauth/pushauthtest"
)

const (
	audience = "https://aiprod-worker-runway.example/push"
	account  = "aiprod-push@p.iam.gserviceaccount.com"
)

func newVerifier(t *testing.T, iss *pushauthtest.Issuer) *pushauth.OIDC {
	t.Helper()
	v, err := pushauth.New(context.Background(), pushauth.Config{Audience: audience, ServiceAccount: account, Options: iss.Options()})
	require.NoError(t, err)
	return v
}

// with returns valid claims changed by f.
func with(f func(c map[string]any)) map[string]any {
	c := pushauthtest.Claims(audience, account)
	f(c)
	return c
}

// TestVerifyRefuses: every way a push token can be wrong is 401
// (errclass.Unauthenticated) with a message saying what, which never holds
// the token, the expected audience or the account; checks of the form and
// the claims fetch no certificate.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	iss := pushauthtest.NewIssuer(t)
	other := pushauthtest.NewIssuer(t) // another key under the same key id
	v := newVerifier(t, iss)
	b64 := base64.RawURLEncoding.EncodeToString
	valid := pushauthtest.Claims(audience, account)

	for _, tt := range []struct {
		name, auth, want string
		fetches          int // certificate fetches it may cause
	}{
		{"missing header", "", "missing Authorization header", 0},
		{"blank header", "   ", "missing Authorization header", 0},
		{"not Bearer", "Basic " + b64([]byte("user:pass")), "not a Bearer token", 0},
		{"Bearer without token", "Bearer", "not a Bearer token", 0},
		{"Bearer with two tokens", "Bearer a.b.c d.e.f", "not a Bearer token", 0},
		{"garbage token", "Bearer garbage", "not a JWT", 0},
		{"three garbage segments", "Bearer a.b.c", "not a JWT", 0},
		{"unsigned (alg none)", "Bearer " + iss.TokenWithHeader(t, map[string]any{"alg": "none", "kid": iss.KeyID}, valid),
			"not signed with RS256", 0},
		{"HS256", "Bearer " + iss.TokenWithHeader(t, map[string]any{"alg": "HS256", "kid": iss.KeyID}, valid),
			"not signed with RS256", 0},
		{"ES256 with a short signature", "Bearer " + b64([]byte(`{"alg":"ES256","kid":"`+iss.KeyID+`"}`)) + "." +
			b64([]byte(`{"iss":"https://accounts.google.com"}`)) + ".AA", "not signed with RS256", 0},
		{"no key id", "Bearer " + iss.TokenWithHeader(t, map[string]any{"alg": "RS256"}, valid), "not signed with RS256", 0},
		{"wrong issuer", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["iss"] = "https://evil.example" })),
			"issuer is not Google", 0},
		{"wrong audience", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["aud"] = "https://other.example/push" })),
			"audience is not this endpoint's", 0},
		{"expired", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })),
			"has expired", 0},
		{"no expiry", "Bearer " + iss.Token(t, with(func(c map[string]any) { delete(c, "exp") })), "has expired", 0},
		{"wrong account", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["email"] = "attacker@evil.iam.gserviceaccount.com" })),
			"email is not the push service account", 0},
		{"email not verified", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["email_verified"] = false })),
			"email is not verified", 0},
		{"email_verified a string", "Bearer " + iss.Token(t, with(func(c map[string]any) { c["email_verified"] = "true" })),
			"email is not verified", 0},
		{"email_verified missing", "Bearer " + iss.Token(t, with(func(c map[string]any) { delete(c, "email_verified") })),
			"email is not verified", 0},
		{"signed by another key", "Bearer " + other.Token(t, valid), "signature does not verify", 1},
		{"unknown key id", "Bearer " + other.TokenWithHeader(t, map[string]any{"alg": "RS256", "kid": "nosuch"}, valid),
			"signature does not verify", 1},
		{"tampered claims", "Bearer " + tamper(t, iss.Token(t, valid)), "signature does not verify", 1},
	} {
		before := iss.Fetches()
		err := v.Verify(context.Background(), tt.auth)
		require.Error(t, err, tt.name)
		require.ErrorIs(t, err, errclass.Unauthenticated, tt.name)
		require.Equal(t, http.StatusUnauthorized, errclass.HTTPStatus(err), tt.name)
		require.Contains(t, err.Error(), tt.want, tt.name)
		for _, secret := range []string{audience, account} {
			require.NotContains(t, err.Error(), secret, tt.name)
		}
		if tok, ok := strings.CutPrefix(tt.auth, "Bearer "); ok && len(tok) > 8 {
			require.NotContains(t, err.Error(), tok, "%s: the token is in the error", tt.name)
		}
		require.LessOrEqual(t, iss.Fetches()-before, tt.fetches, "%s: certificate fetches", tt.name)
	}
}

// tamper changes the email of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	payload = []byte(strings.Replace(string(payload), `"sub":"1234567890"`, `"sub":"9999999999"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// TestVerifyAccepts: a token of the push subscription verifies, whatever
// the scheme's case; Google's certificates are fetched once and cached.
func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	iss := pushauthtest.NewIssuer(t)
	v := newVerifier(t, iss)
	for _, auth := range []string{
		"Bearer " + iss.Token(t, pushauthtest.Claims(audience, account)),
		"bearer " + iss.Token(t, with(func(c map[string]any) { c["iss"] = "accounts.google.com" })),
	} {
		require.NoError(t, v.Verify(context.Background(), auth))
	}
	require.Equal(t, 1, iss.Fetches(), "the certificates are cached (Cache-Control max-age)")
}

// TestVerifyCertificatesUnreachable: when Google's certificates cannot be
// fetched the request is refused as retryable (503), not as a bad token.
func TestVerifyCertificatesUnreachable(t *testing.T) {
	t.Parallel()
	iss := pushauthtest.NewIssuer(t)
	down := &http.Client{Transport: failing{}}
	v, err := pushauth.New(context.Background(), pushauth.Config{Audience: audience, ServiceAccount: account,
		Options: []option.ClientOption{option.WithHTTPClient(down)}})
	require.NoError(t, err)
	err = v.Verify(context.Background(), "Bearer "+iss.Token(t, pushauthtest.Claims(audience, account)))
	require.ErrorIs(t, err, errclass.Retryable)
	require.Equal(t, http.StatusServiceUnavailable, errclass.HTTPStatus(err))
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := pushauth.New(context.Background(), pushauth.Config{ServiceAccount: account})
	require.ErrorContains(t, err, "AIPROD_PUSH_AUDIENCE")
	_, err = pushauth.New(context.Background(), pushauth.Config{Audience: audience, ServiceAccount: " "})
	require.ErrorContains(t, err, "AIPROD_PUSH_SERVICE_ACCOUNT")
}

func TestOffAcceptsEverything(t *testing.T) {
	t.Parallel()
	require.NoError(t, pushauth.Off().Verify(context.Background(), ""))
	require.NoError(t, pushauth.Off().Verify(context.Background(), "Bearer garbage"))
}

// FuzzVerify: no Authorization header value panics the verifier or is
// accepted unless it carries the one valid token. The seeds include an
// ES256 header with a short signature, which panics idtoken's own ES256
// check when the key id is one of Google's IAP keys (public): the verifier
// refuses every algorithm but RS256 before idtoken sees the token.
func FuzzVerify(f *testing.F) {
	iss := pushauthtest.NewIssuer(f)
	b64 := base64.RawURLEncoding.EncodeToString
	valid := iss.Token(f, pushauthtest.Claims(audience, account))
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Basic abc", "Bearer a.b.c", "Bearer ...", "bearer " + valid[:len(valid)-4] + "AAAA",
		"Bearer " + b64([]byte(`{"alg":"ES256","kid":"`+iss.KeyID+`"}`)) + "." + b64([]byte(`{}`)) + ".AA",
		"Bearer " + strings.Replace(valid, ".", "..", 1), "Bearer " + valid,
	} {
		f.Add(s)
	}
	v, err := pushauth.New(context.Background(), pushauth.Config{Audience: audience, ServiceAccount: account, Options: iss.Options()})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, auth string) {
		err := v.Verify(context.Background(), auth)
		if err == nil {
			// Only a signed token of the right claims gets through, and
			// fuzzing cannot sign.
			require.True(t, strings.HasSuffix(auth, valid), "accepted %q", auth)
			return
		}
		require.ErrorIs(t, err, errclass.Unauthenticated)
	})
}
