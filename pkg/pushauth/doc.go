// Package pushauth authenticates Pub/Sub push requests: it decides whether
// a POST to a push endpoint (the worker's /push) was sent by the expected
// push subscription, before anything in the request is used.
//
// # OIDC tokens
//
// A push subscription with push_config.oidc_token sends, on every push,
// "Authorization: Bearer <JWT>": a Google-signed ID token (RS256) whose
// claims are
//
//	iss             https://accounts.google.com (or accounts.google.com)
//	aud             the subscription's oidc_token.audience
//	email           the subscription's oidc_token.service_account_email
//	email_verified  true
//	exp, iat        expiry and issue time (an hour apart)
//
// OIDC (New) checks all of them: the header is present and a Bearer token,
// the token is three base64url segments whose header says RS256 with a key
// id, the issuer is Google's, the audience and the email are the configured
// ones, the email is verified and the token has not expired; then
// google.golang.org/api/idtoken checks the signature against Google's
// published certificates (https://www.googleapis.com/oauth2/v3/certs,
// fetched and cached as their Cache-Control says). The claims are checked
// before the signature so that garbage costs no certificate fetch, and
// because idtoken checks neither the issuer nor the email. Only RS256 is
// accepted: Pub/Sub signs with it, and idtoken's ES256 path (meant for IAP)
// slices the signature without checking its length.
//
// # Errors
//
// Verify returns nil, an errclass.Unauthenticated error saying which check
// failed (answer 401), or an errclass.Retryable one when the certificates
// cannot be fetched (answer 503): either way the request is refused, and
// Pub/Sub, which treats every answer but 2xx as a nack, delivers it again
// later. Error messages never contain the token, nor the expected audience
// or account.
//
// # Off
//
// Off accepts every request. It is for a push endpoint that only trusted
// callers can reach (a local run); cmd/worker uses it only when
// AIPROD_PUSH_AUTH=off says so, and logs a warning.
package pushauth
