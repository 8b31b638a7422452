// Package runwaysim simulates the Runway API (version 2024-11-06) on top of
// sim.Core, so that AIPROD's real backend/runway adapter can talk to it in
// tests and in the dev stack. Not for production.
//
// # Protocol
//
//   - POST /v1/text_to_video and POST /v1/image_to_video → 200 {"id"};
//   - GET /v1/tasks/{id} → {id, status, createdAt, progress, output[],
//     failure, failureCode};
//   - DELETE /v1/tasks/{id} → 204: cancels a PENDING/THROTTLED/RUNNING task,
//     deletes a finished or already canceled one; 404 for an unknown id.
//
// Every protocol call first applies the core's injected faults (answering
// {"error": "..."} with that status, and "Retry-After: 1" on 429), then
// requires "Authorization: Bearer <non-empty>" (401 otherwise;
// Core().SetCredential pins the key) and "X-Runway-Version: 2024-11-06"
// (400 when missing or different).
//
// # Validation
//
// Bodies are checked like Runway's request schemas: the model must exist
// for the endpoint (gen4_turbo is image-to-video only; text-to-video takes
// gen4.5, veo3, veo3.1, veo3.1_fast), ratio must be one of the model's pixel
// ratios ("1280:720", "720:1280", "960:960", "1920:1080", ...), duration one
// of its durations (gen4: 2–10 s, veo3.1: 4/6/8 s, veo3: 8 s), promptText at
// most 1000 UTF-16 code units, promptImage an https URL, a data:image URI or
// [{uri, position: first|last}], and audio only on veo3.1 models. Failures
// are 400 {"error": "..."}.
//
// # States
//
// A core generation that is queued shows as THROTTLED for the first half of
// the queue time and PENDING for the rest; running is RUNNING with progress;
// succeeded is SUCCEEDED with output [video URL]; a "[sim:unsafe]" prompt
// ends FAILED with failureCode SAFETY.INPUT.TEXT, a "[sim:fail]" prompt
// FAILED with INTERNAL.BAD_OUTPUT.CODE01; canceled is CANCELLED.
//
// # Wiring
//
//	s := runwaysim.New(sim.Config{QueueTime: 10 * time.Millisecond, RunTime: 30 * time.Millisecond})
//	srv := httptest.NewServer(s.Handler())
//	s.Core().SetBaseURL(srv.URL) // output URLs point at /__sim/videos/{id}.mp4
//
// The /__sim endpoints of sim.Core (faults, stats, videos) are mounted on the
// same handler.
package runwaysim
