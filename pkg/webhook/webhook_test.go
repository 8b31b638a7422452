package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/webhook"
)

// The specification's published test vector, as every library of the
// standard-webhooks repository checks it: libraries/go/webhook_test.go
// (TestWebhookSign), libraries/python/tests/test_webhooks.py and
// libraries/java/src/test/java/com/standardwebhooks/TestScenario.java
// (validSigned) of github.com/standard-webhooks/standard-webhooks.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeaders() http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, vectorID)
	h.Set(webhook.HeaderTimestamp, "1614265330")
	h.Set(webhook.HeaderSignature, vectorSignature)
	return h
}

func at(secs int64) func() time.Time { return func() time.Time { return time.Unix(secs, 0) } }

func TestSignMatchesTheSpecificationsVector(t *testing.T) {
	t.Parallel()
	sig, err := webhook.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody), vectorSecret)
	require.NoError(t, err)
	require.Equal(t, vectorSignature, sig)

	h := http.Header{}
	require.NoError(t, webhook.SetHeaders(h, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody), vectorSecret))
	require.Equal(t, vectorHeaders(), h)
}

func TestVerifyTheSpecificationsVector(t *testing.T) {
	t.Parallel()
	v := webhook.Verifier{Secret: vectorSecret, Now: at(vectorTimestamp + 10)}
	require.NoError(t, v.Verify(vectorHeaders(), []byte(vectorBody)))
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	other := webhook.NewSecret()
	for _, tc := range []struct {
		name   string
		secret string
		now    int64
		edit   func(h http.Header) http.Header
		body   string
		want   error
	}{
		{name: "tampered body", body: `{"test": 2432232315}`, want: webhook.ErrNoMatch},
		{name: "other secret", secret: other, want: webhook.ErrNoMatch},
		{name: "other id", edit: func(h http.Header) http.Header { h.Set(webhook.HeaderID, "msg_x"); return h }, want: webhook.ErrNoMatch},
		{name: "timestamp moved (signature over the old one)", now: vectorTimestamp + 1,
			edit: func(h http.Header) http.Header { h.Set(webhook.HeaderTimestamp, "1614265331"); return h }, want: webhook.ErrNoMatch},
		{name: "unknown version", edit: func(h http.Header) http.Header {
			h.Set(webhook.HeaderSignature, "v2"+strings.TrimPrefix(vectorSignature, "v1"))
			return h
		}, want: webhook.ErrNoMatch},
		{name: "too old", now: vectorTimestamp + 301, want: webhook.ErrTooOld},
		{name: "too new", now: vectorTimestamp - 301, want: webhook.ErrTooNew},
		{name: "no id", edit: func(h http.Header) http.Header { h.Del(webhook.HeaderID); return h }, want: webhook.ErrMissingHeaders},
		{name: "no signature", edit: func(h http.Header) http.Header { h.Del(webhook.HeaderSignature); return h }, want: webhook.ErrMissingHeaders},
		{name: "bad timestamp", edit: func(h http.Header) http.Header { h.Set(webhook.HeaderTimestamp, "yesterday"); return h }, want: webhook.ErrBadTimestamp},
		{name: "secret without prefix", secret: strings.TrimPrefix(vectorSecret, "whsec_"), want: webhook.ErrBadSecret},
		{name: "secret not base64", secret: "whsec_%%%", want: webhook.ErrBadSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := vectorHeaders()
			if tc.edit != nil {
				h = tc.edit(h)
			}
			body, secret, now := vectorBody, vectorSecret, int64(vectorTimestamp)
			if tc.body != "" {
				body = tc.body
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			if tc.now != 0 {
				now = tc.now
			}
			err := webhook.Verifier{Secret: secret, Now: at(now)}.Verify(h, []byte(body))
			require.ErrorIs(t, err, tc.want)
			require.NotContains(t, err.Error(), strings.TrimPrefix(secret, "whsec_"), "errors never show the secret")
		})
	}
}

// TestRotationOverlap: a header signed with the new and the previous secret
// verifies with either, and with neither once a secret is dropped.
func TestRotationOverlap(t *testing.T) {
	t.Parallel()
	prev, cur, stranger := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	ts := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	body := []byte(`{"type":"job.succeeded"}`)
	require.NoError(t, webhook.SetHeaders(h, "msg_1", ts, body, cur, prev))
	sigs := strings.Fields(h.Get(webhook.HeaderSignature))
	require.Len(t, sigs, 2)
	for _, s := range sigs {
		require.True(t, strings.HasPrefix(s, "v1,"))
	}
	for _, s := range []string{prev, cur} {
		require.NoError(t, webhook.Verifier{Secret: s, Now: func() time.Time { return ts }}.Verify(h, body))
	}
	require.ErrorIs(t, webhook.Verifier{Secret: stranger, Now: func() time.Time { return ts }}.Verify(h, body), webhook.ErrNoMatch)
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := webhook.NewSecret(), webhook.NewSecret()
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, webhook.SecretPrefix))
	require.NoError(t, webhook.ParseSecret(a))
	require.Len(t, a, len(webhook.SecretPrefix)+44) // base64 of 32 bytes
	_, err := webhook.Sign("msg_1", time.Now(), nil)
	require.Error(t, err, "signing needs a secret")
}
