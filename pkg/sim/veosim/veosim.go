// Package veosim is a simulated Vertex AI Veo API for the dev stack and
// for the Veo adapter's contract tests. It speaks Vertex's long-running
// prediction protocol on top of sim.Core; it is not for production.
//
// # Protocol
//
//   - POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predictLongRunning
//     {"instances": [{"prompt", "image": {"gcsUri"|"bytesBase64Encoded", "mimeType"}}],
//     "parameters": {"durationSeconds" 4|6|8, "aspectRatio" "16:9"|"9:16",
//     "resolution" "720p"|"1080p"|"4k", "generateAudio", "sampleCount" 1..4,
//     "storageUri" "gs://..."}, "labels": {...}} → {"name":
//     "projects/{p}/locations/{l}/publishers/google/models/{model}/operations/{id}"}.
//     Invalid input is 400 INVALID_ARGUMENT; a model not named veo-* is 404.
//   - POST .../models/{model}:fetchPredictOperation {"operationName": name} →
//     {"name"} while running ("done" omitted, as proto3 JSON omits false);
//     when finished {"name", "done": true, "response": {"@type",
//     "videos": [{"gcsUri", "mimeType"}]}}. The video is
//     <storageUri>/<operation id>/sample_0.mp4 when storageUri was given, and
//     inline bytesBase64Encoded otherwise, as Vertex does. "[sim:unsafe]"
//     prompts finish with raiMediaFilteredCount 1 and a reason, no video;
//     "[sim:fail]" ones with error {code 13, message}.
//
// Nothing in the dev stack can read gs:// objects, so a succeeded job's
// video URL is the gs:// URI: a real address of the output, not
// downloadable there. The same bytes are served at
// /__sim/videos/{operation id}.mp4 for whoever wants to look.
//
// Every protocol call first applies the injected faults (sim.Core.Inject):
// 429 is RESOURCE_EXHAUSTED with Retry-After: 1, every error body is
// Google's {"error": {"code", "message", "status"}}. Authorization must be
// "Bearer <any non-empty token>" (401 UNAUTHENTICATED otherwise);
// Core().SetCredential pins the token (sim.Gate). The /__sim endpoints of
// sim.Core are mounted too.
package veosim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aiprod/aiprod/pkg/sim"
)

// Sim is a simulated Vertex AI Veo API. Safe for concurrent use.
type Sim struct {
	sim.Server

	mu  sync.Mutex
	ops map[string]op
}

type op struct {
	name       string
	model      string
	storageURI string
}

// New returns a simulator whose generations follow cfg. When cfg.BaseURL is
// empty, the first request's host becomes the base of video URLs. Its
// Handler serves the Veo protocol and the /__sim endpoints.
func New(cfg sim.Config) *Sim {
	s := &Sim{ops: map[string]op{}}
	// The last segment is "{model}:{verb}"; ServeMux wildcards take whole
	// segments, so the verb is split off by hand.
	s.Server = sim.NewServer(cfg, sim.Gate{Schemes: []string{"Bearer"}, Error: writeFault}, sim.Routes{
		"POST /v1/projects/{project}/locations/{location}/publishers/google/models/{modelVerb}": s.route,
	})
	return s
}

// writeFault answers an injected error or a refused token as Google does.
func writeFault(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusTooManyRequests:
		googleError(w, code, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model. Please submit a quota increase request.")
	case http.StatusUnauthorized:
		googleError(w, code, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	case http.StatusInternalServerError:
		googleError(w, code, "INTERNAL", "Internal error encountered.")
	default:
		googleError(w, code, "UNAVAILABLE", "The service is currently unavailable.")
	}
}

func (s *Sim) route(w http.ResponseWriter, r *http.Request) {
	model, verb, ok := strings.Cut(r.PathValue("modelVerb"), ":")
	project, location := r.PathValue("project"), r.PathValue("location")
	if !ok || !strings.HasPrefix(model, "veo-") {
		googleError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf(
			"Publisher Model `projects/%s/locations/%s/publishers/google/models/%s` was not found or your project does not have access to it.",
			project, location, model))
		return
	}
	switch verb {
	case "predictLongRunning":
		s.predict(w, r, project, location, model)
	case "fetchPredictOperation":
		s.fetch(w, r, model)
	default:
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Method "+verb+" not found.")
	}
}

type mediaIn struct {
	BytesBase64Encoded string `json:"bytesBase64Encoded"`
	GCSURI             string `json:"gcsUri"`
	MimeType           string `json:"mimeType"`
}

type predictIn struct {
	Instances []struct {
		Prompt string   `json:"prompt"`
		Image  *mediaIn `json:"image"`
	} `json:"instances"`
	Parameters struct {
		DurationSeconds *int    `json:"durationSeconds"`
		AspectRatio     *string `json:"aspectRatio"`
		Resolution      *string `json:"resolution"`
		GenerateAudio   *bool   `json:"generateAudio"`
		SampleCount     *int    `json:"sampleCount"`
		StorageURI      string  `json:"storageUri"`
	} `json:"parameters"`
	Labels map[string]string `json:"labels"`
}

func (s *Sim) predict(w http.ResponseWriter, r *http.Request, project, location, model string) {
	var in predictIn
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	if err := dec.Decode(&in); err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	bad := func(msg string) { googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg) }
	if len(in.Instances) != 1 {
		bad("Exactly one instance is required.")
		return
	}
	inst, p := in.Instances[0], in.Parameters
	if strings.TrimSpace(inst.Prompt) == "" && inst.Image == nil {
		bad("A text prompt or an image is required.")
		return
	}
	if img := inst.Image; img != nil {
		switch {
		case img.GCSURI != "" && img.BytesBase64Encoded != "":
			bad("Only one of image.gcsUri and image.bytesBase64Encoded may be set.")
			return
		case img.GCSURI != "" && !strings.HasPrefix(img.GCSURI, "gs://"):
			bad("image.gcsUri must be a gs:// URI.")
			return
		case img.GCSURI == "" && img.BytesBase64Encoded == "":
			bad("image needs gcsUri or bytesBase64Encoded.")
			return
		case img.BytesBase64Encoded != "":
			if _, err := base64.StdEncoding.DecodeString(img.BytesBase64Encoded); err != nil {
				bad("image.bytesBase64Encoded is not valid base64.")
				return
			}
		}
	}
	duration := 8
	if p.DurationSeconds != nil {
		duration = *p.DurationSeconds
	}
	if !slices.Contains([]int{4, 6, 8}, duration) {
		bad(fmt.Sprintf("Unsupported duration %d seconds: supported durations are 4, 6 and 8.", duration))
		return
	}
	if p.AspectRatio != nil && !slices.Contains([]string{"16:9", "9:16"}, *p.AspectRatio) {
		bad(fmt.Sprintf("Unsupported aspect ratio %q: supported aspect ratios are 16:9 and 9:16.", *p.AspectRatio))
		return
	}
	if p.Resolution != nil && !slices.Contains([]string{"720p", "1080p", "4k"}, *p.Resolution) {
		bad(fmt.Sprintf("Unsupported resolution %q.", *p.Resolution))
		return
	}
	if p.SampleCount != nil && (*p.SampleCount < 1 || *p.SampleCount > 4) {
		bad("sampleCount must be between 1 and 4.")
		return
	}
	if p.StorageURI != "" && !strings.HasPrefix(p.StorageURI, "gs://") {
		bad("storageUri must be a gs:// URI.")
		return
	}
	extra := map[string]any{"parameters": p, "labels": in.Labels}
	if inst.Image != nil {
		extra["image"] = *inst.Image
	}
	g := s.Core().Submit(inst.Prompt, model, duration, extra)
	name := fmt.Sprintf("projects/%s/locations/%s/publishers/google/models/%s/operations/%s", project, location, model, g.ID)
	s.mu.Lock()
	s.ops[g.ID] = op{name: name, model: model, storageURI: p.StorageURI}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"name": name})
}

func (s *Sim) fetch(w http.ResponseWriter, r *http.Request, model string) {
	var in struct {
		OperationName string `json:"operationName"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.OperationName == "" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "operationName is required.")
		return
	}
	_, id, _ := strings.Cut(in.OperationName, "/operations/")
	s.mu.Lock()
	o, known := s.ops[id]
	s.mu.Unlock()
	g, found := s.Core().Get(id)
	if !known || !found || o.name != in.OperationName || o.model != model {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Operation "+in.OperationName+" not found.")
		return
	}
	body := map[string]any{"name": o.name}
	switch g.State {
	case sim.Queued, sim.Running:
		writeJSON(w, http.StatusOK, body)
		return
	}
	body["done"] = true
	resp := map[string]any{"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"}
	switch g.State {
	case sim.Succeeded:
		video := map[string]string{"mimeType": "video/mp4"}
		if o.storageURI != "" {
			video["gcsUri"] = strings.TrimRight(o.storageURI, "/") + "/" + id + "/sample_0.mp4"
		} else {
			video["bytesBase64Encoded"] = base64.StdEncoding.EncodeToString(sim.VideoBytes)
		}
		resp["videos"] = []map[string]string{video}
		body["response"] = resp
	case sim.Failed:
		if g.Failure == sim.FailureSafety {
			resp["raiMediaFilteredCount"] = 1
			resp["raiMediaFilteredReasons"] = []string{
				"Veo could not generate videos because the input prompt violates Vertex AI's usage guidelines. Support codes: 58061214",
			}
			body["response"] = resp
		} else {
			body["error"] = map[string]any{"code": 13, "message": "Video generation failed due to an internal server issue. Please try again in a few minutes."}
		}
	case sim.Canceled:
		body["error"] = map[string]any{"code": 1, "message": "Operation was cancelled."}
	}
	writeJSON(w, http.StatusOK, body)
}

func googleError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func writeJSON(w http.ResponseWriter, code int, v any) { sim.WriteJSON(w, code, v) }
