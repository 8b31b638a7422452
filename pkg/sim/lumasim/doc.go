// Package lumasim simulates Luma's Dream Machine API on top of sim.Core, so
// that AIPROD's real backend/luma adapter can talk to it in tests and in the
// dev stack. Not for production.
//
// # Protocol
//
// Served both under /dream-machine/v1 (BasePath, as the real API) and at
// the root, so an adapter's Endpoint may be either srv.URL+BasePath or
// srv.URL:
//
//   - POST /generations/video (and the older POST /generations) → 201 with
//     the Generation object {id, generation_type, state, failure_reason,
//     created_at, assets, model, request};
//   - GET /generations/{id} → the Generation, 404 {"detail"} when unknown;
//   - DELETE /generations/{id} → 204: stops the generation if it is still
//     queued or dreaming (counted as canceled) and deletes it; later GETs
//     answer 404;
//   - GET /generations?limit=&offset= → {"generations": [...], "has_more",
//     "count", "limit", "offset"}: the generations not deleted, newest
//     first; limit defaults to 10 and is cut to MaxListLimit (100, or
//     SetPageSize); a bad limit or offset is 400.
//
// Every protocol call first applies the core's injected faults (answering
// {"detail": "..."} with that status, and "Retry-After: 1" on 429), then
// requires "Authorization: Bearer <non-empty>" (401 otherwise;
// Core().SetCredential pins the key). See sim.Gate.
//
// # Validation
//
// Like Dream Machine, with its messages: model one of ray-2, ray-flash-2,
// ray-1-6; prompt required without keyframes, 3 to 5000 characters;
// aspect_ratio one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 9:21 (default 16:9);
// duration "5s" or "9s" (default 5s); resolution 540p, 720p, 1080p or 4k
// (default 720p); keyframes frame0/frame1 {type: image, url} or {type:
// generation, id}. Failures are 400 {"detail": "..."}.
//
// # States
//
// Core states map to queued, dreaming, completed (assets.video) and failed.
// A "[sim:unsafe]" prompt fails with failure_reason "Advanced prompt
// moderation failed", a "[sim:fail]" prompt with "Prompt processing failed".
package lumasim
