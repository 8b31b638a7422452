// Package pushauthtest issues Google-style OIDC tokens for tests of push
// authentication, without the network: an Issuer holds an RSA key and an
// http.Client whose transport serves the key's JWKS at Google's
// certificates URL, for pushauth.Config.Options.
package pushauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"
)

// CertsURL is where idtoken fetches Google's RS256 certificates.
const CertsURL = "https://www.googleapis.com/oauth2/v3/certs"

// Issuer signs tokens with a test key that its Client serves as Google's.
// Safe for concurrent use.
type Issuer struct {
	key     *rsa.PrivateKey
	KeyID   string
	Client  *http.Client
	fetches atomic.Int32
}

// NewIssuer returns an Issuer with a fresh 2048-bit RSA key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("pushauthtest: generate key: %v", err)
	}
	i := &Issuer{key: key, KeyID: "test-key-1"}
	i.Client = &http.Client{Transport: roundTripper(i.serve)}
	return i
}

// Options are the pushauth.Config.Options that make a verifier fetch this
// Issuer's certificates.
func (i *Issuer) Options() []option.ClientOption {
	return []option.ClientOption{option.WithHTTPClient(i.Client)}
}

// Fetches counts the certificate requests served.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// serve answers Google's certificates URL with the JWKS of the key; any
// other URL is refused (tests do not reach the network).
func (i *Issuer) serve(r *http.Request) (*http.Response, error) {
	if r.URL.String() != CertsURL {
		return nil, fmt.Errorf("pushauthtest: no network in tests (GET %s)", r.URL)
	}
	i.fetches.Add(1)
	b64 := base64.RawURLEncoding.EncodeToString
	body, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": i.KeyID,
		"n": b64(i.key.N.Bytes()), "e": b64(big.NewInt(int64(i.key.E)).Bytes()),
	}}})
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Request: r, Body: io.NopCloser(strings.NewReader(string(body))),
		Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public, max-age=3600"}}}, nil
}

// Claims returns the claims of a valid push token for audience and the
// service account email, expiring in an hour.
func Claims(audience, email string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": audience, "azp": "1234567890",
		"sub": "1234567890", "email": email, "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Token returns a JWT of claims signed RS256 with the Issuer's key and key
// id.
func (i *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	return i.TokenWithHeader(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": i.KeyID}, claims)
}

// TokenWithHeader returns a JWT of header and claims signed RS256 with the
// Issuer's key, whatever header says.
func (i *Issuer) TokenWithHeader(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	seg := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("pushauthtest: %v", err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := seg(header) + "." + seg(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatalf("pushauthtest: sign: %v", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}
