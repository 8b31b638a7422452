package pushauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Verifier authenticates one push request.
type Verifier interface {
	// Verify returns nil when authorization, the request's Authorization
	// header ("" when absent), proves that the expected push subscription
	// sent the request; an errclass.Unauthenticated error when it does not;
	// an errclass.Retryable one when it cannot tell now. Safe for concurrent
	// use.
	Verify(ctx context.Context, authorization string) error
}

// Off returns a Verifier that accepts every request (see "Off" in the
// package doc).
func Off() Verifier { return off{} }

type off struct{}

func (off) Verify(context.Context, string) error { return nil }

// Issuers are the iss claims of Google-signed ID tokens.
var Issuers = []string{"https://accounts.google.com", "accounts.google.com"}

// Config configures OIDC.
type Config struct {
	// Audience is the aud claim expected: the push subscription's
	// oidc_token.audience (AIPROD_PUSH_AUDIENCE). Required.
	Audience string
	// ServiceAccount is the email claim expected: the push subscription's
	// oidc_token.service_account_email (AIPROD_PUSH_SERVICE_ACCOUNT).
	// Required.
	ServiceAccount string
	// Options configure the HTTP client that fetches Google's certificates
	// (tests pass option.WithHTTPClient with a client that serves their own).
	Options []option.ClientOption
	// Now is the clock of the expiry check. Nil: time.Now. (idtoken checks
	// the expiry again with time.Now.)
	Now func() time.Time
}

// Validate reports the first missing field.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Audience) == "":
		return errors.New("pushauth: Config.Audience (AIPROD_PUSH_AUDIENCE) is required")
	case strings.TrimSpace(c.ServiceAccount) == "":
		return errors.New("pushauth: Config.ServiceAccount (AIPROD_PUSH_SERVICE_ACCOUNT) is required")
	}
	return nil
}

// OIDC verifies the OIDC tokens of a Pub/Sub push subscription (see the
// package doc). Safe for concurrent use.
type OIDC struct {
	cfg Config
	v   *idtoken.Validator
}

// New returns the OIDC Verifier of cfg. It fetches nothing yet.
func New(ctx context.Context, cfg Config) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v, err := idtoken.NewValidator(ctx, cfg.Options...)
	if err != nil {
		return nil, errclass.Wrap(errclass.Permanent, err, "pushauth: token validator")
	}
	return &OIDC{cfg: cfg, v: v}, nil
}

func unauthenticated(format string, args ...any) error {
	return errclass.New(errclass.Unauthenticated, "push authentication: "+format, args...)
}

// Verify implements Verifier.
func (o *OIDC) Verify(ctx context.Context, authorization string) error {
	token, err := BearerToken(authorization)
	if err != nil {
		return err
	}
	if err := o.checkClaims(token); err != nil {
		return err
	}
	if _, err := o.v.Validate(ctx, token, o.cfg.Audience); err != nil {
		// idtoken's errors have no types but the transport's: a failed
		// certificate fetch is *url.Error (ctx's end included).
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			return errclass.Wrap(errclass.Retryable, err, "push authentication: fetch Google's certificates")
		}
		return unauthenticated("the token's signature does not verify with Google's certificates")
	}
	return nil
}

// BearerToken returns the token of an Authorization header value
// "Bearer <token>" (the scheme in any case), or an
// errclass.Unauthenticated error naming what is wrong.
func BearerToken(authorization string) (string, error) {
	if strings.TrimSpace(authorization) == "" {
		return "", unauthenticated("missing Authorization header (want Bearer <OIDC token>)")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("the Authorization header is not a Bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", unauthenticated("the Authorization header is not a Bearer token")
	}
	return token, nil
}

// tokenHeader is the JOSE header of a JWT.
type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// claims are the claims of a push token that OIDC checks.
type claims struct {
	Iss           string `json:"iss"`
	Aud           string `json:"aud"`
	Exp           int64  `json:"exp"`
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
}

// checkClaims checks the token's form and claims (not its signature).
func (o *OIDC) checkClaims(token string) error {
	parts := strings.Split(token, ".")
	var h tokenHeader
	var c claims
	if len(parts) != 3 || decodeSegment(parts[0], &h) != nil || decodeSegment(parts[1], &c) != nil {
		return unauthenticated("the Bearer token is not a JWT")
	}
	switch {
	case h.Alg != "RS256" || h.Kid == "":
		return unauthenticated("the token is not signed with RS256 and a key id")
	case !slices.Contains(Issuers, c.Iss):
		return unauthenticated("the token's issuer is not Google")
	case c.Aud != o.cfg.Audience:
		return unauthenticated("the token's audience is not this endpoint's")
	case o.cfg.Now().Unix() > c.Exp:
		return unauthenticated("the token has expired")
	case c.Email != o.cfg.ServiceAccount:
		return unauthenticated("the token's email is not the push service account")
	case c.EmailVerified != true:
		return unauthenticated("the token's email is not verified")
	}
	return nil
}

// decodeSegment decodes a base64url JWT segment holding a JSON object.
func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
