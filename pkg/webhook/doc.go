// Package webhook signs and verifies webhooks per the Standard Webhooks
// specification (standardwebhooks.com), as DESIGN.md "Notifications" asks:
// the notifier signs every job webhook with it, and receivers verify with
// Verify (or client.VerifyWebhook, which also decodes the event).
//
// # Headers
//
//	webhook-id          the event's id, the same on every retry of it
//	webhook-timestamp   the attempt's time, in Unix seconds
//	webhook-signature   "v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">"
//
// During a secret rotation the signature header holds one signature per
// secret, separated by spaces; a receiver accepts the request when any of
// them matches the secret it knows.
//
// # Secrets
//
// A secret is "whsec_" followed by the base64 (standard alphabet, padded)
// of the HMAC key; NewSecret makes one of SecretKeyBytes random bytes.
// Secrets are credentials: this package never puts one in an error.
//
// # Implementation
//
// The HMAC itself is the specification's own Go library
// (github.com/standard-webhooks/standard-webhooks/libraries/go); this package
// adds what it lacks: signing with several secrets at once, a secret
// generator, and verification on an injectable clock with a chosen
// tolerance. The tests check it against the specification's published test
// vector.
package webhook
