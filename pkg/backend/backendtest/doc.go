// Package backendtest is the conformance suite of backend.Backend, and of
// backend.Finder for the adapters that implement it. Every adapter package
// runs it against its provider's simulator (pkg/sim/...) from a _test.go
// file:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			NewSim: func(cfg sim.Config) backendtest.Simulator { return runwaysim.New(cfg) },
//			NewBackend: func(t *testing.T, url, key string, c *http.Client) backend.Backend {
//				b, err := runway.New(runway.Config{Endpoint: url, APIKey: key, HTTPClient: c})
//				require.NoError(t, err)
//				return b
//			},
//			Request:  backend.SubmitRequest{Model: "veo3.1_fast", DurationSeconds: 4, ...},
//			Cancel:   backendtest.CancelStops,
//			AuthHint: runway.CredentialEnv,
//		})
//	}
//
// The suite owns the simulator's clock (a sim.ManualClock) and its HTTP
// server, so it steps generations through their states without sleeping
// and can corrupt or drop the simulator's answers. What providers really
// do differently is said by the Harness (CancelEffect, ReportsDuration,
// NoPendingState, VideoURL), never by skipping a case.
//
// # What it checks
//
// The lifecycle (pending, running, succeeded with a reachable video and its
// duration); failed and safety-rejected generations with classified errors;
// a simulator that is down (Retryable), rate limited (Retryable with
// Retry-After) or failing with 5xx; cancel while running; a refused
// credential (Retryable, no secret in the text); unknown and malformed
// handles; malformed and lost answers (errors, never panics); answers
// that quote the credential back (never in the error text); canceled
// contexts. Throughout, no error text ever holds the credential.
//
// For a Finder: a submit whose answer was lost is found, and only it; no
// submit is found=false; two identical submits are an errclass.Conflict;
// generations created before since - providerhttp.ClockSkew are ignored,
// those within it are not; listings that span pages, fail or are malformed.
//
// # Fuzzing
//
// Fuzz drives an adapter with canned answers of any status, headers and
// body, in process (CannedClient), from each adapter package's FuzzAnswers:
// whatever the provider answers, the adapter does not panic and keeps the
// contract above (classified errors without the credential, well-formed
// statuses).
//
// A change to backend.Backend or backend.Finder extends this suite.
package backendtest
