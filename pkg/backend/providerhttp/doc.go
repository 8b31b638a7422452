// Package providerhttp is the HTTP plumbing AIPROD's video provider
// adapters share (backend/runway, backend/luma, backend/replicate,
// backend/fal, backend/veo): sending a JSON call with a credential,
// reading a bounded answer, and turning what went wrong into an errclass
// error whose text is clipped and never holds the credential.
//
// What is the same for every provider lives here; what a provider's
// protocol says (its error body, its safety wording, its states) stays in
// its adapter, which hands it over as a Problem.
//
// # Adapters
//
// An adapter whose provider takes a static API key describes it once as an
// API (name, Authorization scheme, key variable, error reader) and builds
// its Client and validates its Config with it. A provider that names its
// generations by an id and serves each one at <collection>/<id> (Runway's
// tasks, Luma's generations, Replicate's predictions) is a Collection: it
// creates, polls and cancels them with the id as the backend.Handle, and the
// adapter only says how to read one into a backend.Status.
//
// # Classification of HTTP answers
//
// Client.Error is the one place where providers' HTTP statuses become
// classes: errclass.FromHTTPStatus decides (400/422 Permanent, 404
// NotFound, 409 Conflict, 401/402/403/408/429/5xx Retryable), a status it does
// not classify (1xx, 2xx or 3xx where another was due) is Retryable, the
// adapter's Problem.Class overrides it for an error status (a safety
// refusal in a 400 is ContentSafety). A Retryable error carries the Retry-After header (delay-seconds or an
// HTTP date, errclass.RetryAfter), or else the hint the adapter read from
// the body.
//
// # Secrets
//
// The credential goes only into the request's headers. Every error text the
// Client builds is cleaned of it (Redact, RedactText), including transport
// errors a custom RoundTripper may have written it into; errors.Is still
// sees through the cleaning (context.Canceled stays visible).
//
// # Listings
//
// FindOne is the scan behind backend.Finder for providers that list their
// generations newest first: it pages back to the recorded intent time less
// ClockSkew and answers the one generation that matches, none, or an
// ambiguity error.
package providerhttp
