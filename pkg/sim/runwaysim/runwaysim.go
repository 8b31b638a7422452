package runwaysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/aiprod/aiprod/pkg/sim"
)

// APIVersion is the only X-Runway-Version the simulator accepts.
const APIVersion = "2024-11-06"

// RetryAfterSeconds is the Retry-After the simulator sends with an injected 429.
const RetryAfterSeconds = sim.RetryAfterSeconds

// maxBody caps request bodies (data URIs may reach 5 MB).
const maxBody = 6 << 20

// modelSpec is what one endpoint accepts for one model.
type modelSpec struct {
	ratios          []string
	durations       []int
	defaultDuration int  // 0: duration is required
	audio           bool // takes "audio"
	promptRequired  bool
}

var (
	veoRatios     = []string{"1280:720", "720:1280", "1080:1920", "1920:1080"}
	gen4Ratios    = []string{"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
	gen4Durations = []int{2, 3, 4, 5, 6, 7, 8, 9, 10}

	// textToVideo and imageToVideo follow the request schemas of Runway's
	// SDKs for API version 2024-11-06.
	textToVideo = map[string]modelSpec{
		"gen4.5":      {ratios: []string{"1280:720", "720:1280"}, durations: gen4Durations, promptRequired: true},
		"veo3.1":      {ratios: veoRatios, durations: []int{4, 6, 8}, defaultDuration: 8, audio: true, promptRequired: true},
		"veo3.1_fast": {ratios: veoRatios, durations: []int{4, 6, 8}, defaultDuration: 8, audio: true, promptRequired: true},
		"veo3":        {ratios: veoRatios, durations: []int{8}, promptRequired: true},
	}
	imageToVideo = map[string]modelSpec{
		"gen4_turbo":  {ratios: gen4Ratios, durations: gen4Durations, defaultDuration: 10},
		"gen4.5":      {ratios: gen4Ratios, durations: gen4Durations, promptRequired: true},
		"veo3.1":      {ratios: veoRatios, durations: []int{4, 6, 8}, defaultDuration: 8, audio: true},
		"veo3.1_fast": {ratios: veoRatios, durations: []int{4, 6, 8}, defaultDuration: 8, audio: true},
		"veo3":        {ratios: veoRatios, durations: []int{8}},
	}
)

// Sim is a simulated Runway API. Safe for concurrent use.
type Sim struct {
	sim.Server

	mu       sync.Mutex
	canceled map[string]bool // tasks canceled through DELETE
}

// New returns a simulator on a new sim.Core built from cfg. Set the core's
// base URL (Core().SetBaseURL) once the server listens, so that output URLs
// point at it. Its Handler serves the Runway protocol and the /__sim
// endpoints.
func New(cfg sim.Config) *Sim {
	s := &Sim{canceled: map[string]bool{}}
	s.Server = sim.NewServer(cfg, gate(), sim.Routes{
		"POST /v1/text_to_video":  s.create(textToVideo, false),
		"POST /v1/image_to_video": s.create(imageToVideo, true),
		"GET /v1/tasks/{id}":      s.getTask,
		"DELETE /v1/tasks/{id}":   s.deleteTask,
	})
	return s
}

// writeError answers in Runway's error shape, {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	sim.WriteJSON(w, status, map[string]string{"error": msg})
}

// gate checks what Runway checks before a call: injected faults first, then
// the credential and the API version.
func gate() sim.Gate {
	return sim.Gate{
		Schemes: []string{"Bearer"},
		Error:   func(w http.ResponseWriter, code int) { writeError(w, code, message(code)) },
		Check: func(w http.ResponseWriter, r *http.Request) bool {
			switch v := r.Header.Get("X-Runway-Version"); {
			case v == "":
				writeError(w, http.StatusBadRequest, "The X-Runway-Version header is required. Set it to "+APIVersion+".")
				return false
			case v != APIVersion:
				writeError(w, http.StatusBadRequest, fmt.Sprintf("Unsupported X-Runway-Version %q.", v))
				return false
			}
			return true
		},
	}
}

// message is Runway's text for an injected error or a refused key.
func message(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "Invalid API key. Pass your key as a bearer token in the Authorization header."
	case http.StatusTooManyRequests:
		return "You have exceeded the rate limit for this endpoint. Please slow down."
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "Runway is shedding load. Please try again later."
	}
	return "An internal error occurred."
}

// createRequest is the body of both create endpoints.
type createRequest struct {
	Model       string          `json:"model"`
	PromptText  *string         `json:"promptText"`
	PromptImage json.RawMessage `json:"promptImage"`
	Ratio       string          `json:"ratio"`
	Duration    *int            `json:"duration"`
	Audio       json.RawMessage `json:"audio"`
	Seed        *int64          `json:"seed"`
}

func (s *Sim) create(specs map[string]modelSpec, image bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "Invalid JSON body.")
			return
		}
		extra, msg := validate(req, specs, image)
		if msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		prompt := ""
		if req.PromptText != nil {
			prompt = *req.PromptText
		}
		g := s.Core().Submit(prompt, req.Model, extra["duration"].(int), extra)
		sim.WriteJSON(w, http.StatusOK, map[string]string{"id": g.ID})
	}
}

// validate checks a create request like Runway does and returns the request
// fields to keep, or the 400 message.
func validate(req createRequest, specs map[string]modelSpec, image bool) (map[string]any, string) {
	spec, ok := specs[req.Model]
	if !ok {
		names := strings.Join(slices.Sorted(maps.Keys(specs)), ", ")
		return nil, fmt.Sprintf("Validation of body failed: model: expected one of %s, got %q.", names, req.Model)
	}
	extra := map[string]any{"model": req.Model}
	switch {
	case req.PromptText == nil && spec.promptRequired:
		return nil, "Validation of body failed: promptText: required."
	case req.PromptText != nil && *req.PromptText == "":
		return nil, "Validation of body failed: promptText: must be a non-empty string."
	case req.PromptText != nil && len(utf16.Encode([]rune(*req.PromptText))) > 1000:
		return nil, "Validation of body failed: promptText: must be at most 1000 characters."
	}
	if image {
		uri, msg := promptImage(req.PromptImage)
		if msg != "" {
			return nil, msg
		}
		extra["promptImage"] = uri
	} else if len(req.PromptImage) > 0 {
		return nil, "Validation of body failed: promptImage: not accepted by text_to_video."
	}
	if !slices.Contains(spec.ratios, req.Ratio) {
		return nil, fmt.Sprintf("Validation of body failed: ratio: expected one of %s for %s, got %q.", strings.Join(spec.ratios, ", "), req.Model, req.Ratio)
	}
	extra["ratio"] = req.Ratio
	d := spec.defaultDuration
	if req.Duration != nil {
		d = *req.Duration
	}
	if d == 0 {
		return nil, "Validation of body failed: duration: required."
	}
	if !slices.Contains(spec.durations, d) {
		return nil, fmt.Sprintf("Validation of body failed: duration: %d is not supported by %s (allowed: %v).", d, req.Model, spec.durations)
	}
	extra["duration"] = d
	if len(req.Audio) > 0 {
		var a bool
		if !spec.audio {
			return nil, fmt.Sprintf("Validation of body failed: audio: not accepted by %s.", req.Model)
		}
		if err := json.Unmarshal(req.Audio, &a); err != nil {
			return nil, "Validation of body failed: audio: expected a boolean."
		}
		extra["audio"] = a
	}
	return extra, ""
}

// promptImage accepts a URL/data URI string or [{uri, position}] with a
// "first" frame, and returns the first frame.
func promptImage(raw json.RawMessage) (string, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", "Validation of body failed: promptImage: required."
	}
	var uri string
	if raw[0] == '[' {
		var frames []struct {
			URI      string `json:"uri"`
			Position string `json:"position"`
		}
		if err := json.Unmarshal(raw, &frames); err != nil || len(frames) == 0 {
			return "", "Validation of body failed: promptImage: expected a URL or an array of {uri, position}."
		}
		for _, f := range frames {
			if f.Position != "first" && f.Position != "last" {
				return "", "Validation of body failed: promptImage.position: expected first or last."
			}
			if f.Position == "first" {
				uri = f.URI
			}
		}
		if uri == "" {
			return "", "Validation of body failed: promptImage: a first frame is required."
		}
	} else if err := json.Unmarshal(raw, &uri); err != nil {
		return "", "Validation of body failed: promptImage: expected a URL or an array of {uri, position}."
	}
	switch {
	case strings.HasPrefix(uri, "data:image/"):
	case strings.HasPrefix(uri, "https://") && len(uri) > len("https://"):
	case strings.HasPrefix(uri, "http://"):
		return "", "Invalid asset for promptImage: Only HTTPS URLs are allowed."
	default:
		return "", "Invalid asset for promptImage: Invalid URL."
	}
	return uri, ""
}

// taskJSON is Runway's task object.
type taskJSON struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	CreatedAt   string   `json:"createdAt"`
	Progress    *float64 `json:"progress,omitempty"`
	Output      []string `json:"output,omitempty"`
	Failure     string   `json:"failure,omitempty"`
	FailureCode string   `json:"failureCode,omitempty"`
}

// Failure codes and messages the simulator reports.
const (
	FailureCodeSafety   = "SAFETY.INPUT.TEXT"
	FailureCodeInternal = "INTERNAL.BAD_OUTPUT.CODE01"
)

func (s *Sim) task(g sim.Generation) taskJSON {
	t := taskJSON{ID: g.ID, CreatedAt: g.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")}
	switch g.State {
	case sim.Queued:
		// The first half of the queue time is shown as THROTTLED (accepted,
		// waiting for a concurrency slot), the rest as PENDING.
		t.Status = "PENDING"
		if s.Core().Now().Sub(g.CreatedAt) < s.Core().Config().QueueTime/2 {
			t.Status = "THROTTLED"
		}
	case sim.Running:
		t.Status = "RUNNING"
		p := g.Progress
		t.Progress = &p
	case sim.Succeeded:
		t.Status = "SUCCEEDED"
		t.Output = []string{g.VideoURL}
	case sim.Failed:
		t.Status = "FAILED"
		if g.Failure == sim.FailureSafety {
			t.FailureCode = FailureCodeSafety
			t.Failure = "The prompt text did not pass content moderation."
		} else {
			t.FailureCode = FailureCodeInternal
			t.Failure = "An unexpected error occurred while generating the output."
		}
	case sim.Canceled:
		t.Status = "CANCELLED"
	}
	return t
}

func (s *Sim) getTask(w http.ResponseWriter, r *http.Request) {
	g, ok := s.Core().Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "Task not found.")
		return
	}
	sim.WriteJSON(w, http.StatusOK, s.task(g))
}

// deleteTask cancels a pending or running task; a finished (or already
// canceled) task is deleted, as Runway does.
func (s *Sim) deleteTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.Core().Cancel(id)
	if !ok {
		writeError(w, http.StatusNotFound, "Task not found.")
		return
	}
	switch {
	case g.State == sim.Canceled && !s.canceled[id]:
		s.canceled[id] = true
	default:
		s.Core().Delete(id)
		delete(s.canceled, id)
	}
	w.WriteHeader(http.StatusNoContent)
}
