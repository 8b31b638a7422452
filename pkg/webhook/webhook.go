package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Header names and the secret prefix of the specification.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
	SecretPrefix    = "whsec_"
)

// SecretKeyBytes is the size of the HMAC key NewSecret draws: 32 bytes,
// SHA-256's block-size half, well within the specification's 24..64.
const SecretKeyBytes = 32

// ToleranceDefault is how far a webhook's timestamp may be from the
// receiver's clock, either way, before Verify refuses it (the
// specification's five minutes): it bounds replays.
const ToleranceDefault = 5 * time.Minute

// Errors of Verify and ParseSecret. They never contain a secret.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp   = errors.New("webhook: webhook-timestamp is not Unix seconds")
	ErrTooOld         = errors.New("webhook: timestamp too old")
	ErrTooNew         = errors.New("webhook: timestamp too new")
	ErrNoMatch        = errors.New("webhook: no matching signature")
	ErrBadSecret      = errors.New(`webhook: a secret is "whsec_" and the base64 of at least one byte`)
)

// NewSecret returns a fresh random secret: "whsec_" and the base64 of
// SecretKeyBytes random bytes.
func NewSecret() string {
	b := make([]byte, SecretKeyBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret checks that s is a secret ("whsec_" and standard base64 of a
// non-empty key). The error never repeats s.
func ParseSecret(s string) error {
	_, err := signer(s)
	return err
}

// signer returns the library's signer of secret. The prefix is required
// here (the library would take a bare key too), so that a key of some other
// kind is not used by mistake.
func signer(secret string) (*standardwebhooks.Webhook, error) {
	key, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) == 0 {
		return nil, ErrBadSecret
	}
	wh, err := standardwebhooks.NewWebhookRaw(raw)
	if err != nil {
		return nil, ErrBadSecret
	}
	return wh, nil
}

// Sign returns the webhook-signature header value of body sent as event id
// at ts: one "v1,<signature>" per secret, in the order given, separated by
// spaces. It needs at least one secret.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: sign: no secret")
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		wh, err := signer(s)
		if err != nil {
			return "", fmt.Errorf("webhook: sign with secret %d: %w", i+1, err)
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			return "", fmt.Errorf("webhook: sign with secret %d: %w", i+1, err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders sets the three Standard Webhooks headers of body, sent as
// event id at ts and signed with every secret (see Sign), on h.
func SetHeaders(h http.Header, id string, ts time.Time, body []byte, secrets ...string) error {
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks a received webhook with the receiver's secret: body must be
// the request body exactly as received, h its headers. It returns nil when
// one of the signatures matches and the timestamp is within
// ToleranceDefault of the current time.
func Verify(secret string, h http.Header, body []byte) error {
	return Verifier{Secret: secret}.Verify(h, body)
}

// Verifier verifies webhooks with one secret. The zero Tolerance is
// ToleranceDefault; a nil Now is time.Now. Safe for concurrent use.
type Verifier struct {
	Secret    string
	Tolerance time.Duration
	Now       func() time.Time
}

// Verify checks h and body as the package function Verify does, with v's
// clock and tolerance. Errors wrap ErrMissingHeaders, ErrBadTimestamp,
// ErrTooOld, ErrTooNew, ErrNoMatch or ErrBadSecret.
func (v Verifier) Verify(h http.Header, body []byte) error {
	id, tsText, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sig == "" {
		return ErrMissingHeaders
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	now, tol := time.Now(), v.Tolerance
	if v.Now != nil {
		now = v.Now()
	}
	if tol <= 0 {
		tol = ToleranceDefault
	}
	ts := time.Unix(secs, 0)
	switch {
	case now.Sub(ts) > tol:
		return ErrTooOld
	case ts.Sub(now) > tol:
		return ErrTooNew
	}
	wh, err := signer(v.Secret)
	if err != nil {
		return err
	}
	// The timestamp is checked above on v's clock; the library compares
	// each space-separated signature in constant time.
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		return ErrNoMatch
	}
	return nil
}
