package lumasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/sim"
)

// BasePath is the path prefix of the real API; the simulator serves the
// protocol both under it and at the root.
const BasePath = "/dream-machine/v1"

// RetryAfterSeconds is the Retry-After the simulator sends with an injected 429.
const RetryAfterSeconds = sim.RetryAfterSeconds

// Page sizes of GET /generations: the limit when the request gives none,
// and the most one page holds (a larger limit is cut to it).
const (
	DefaultListLimit = 10
	MaxListLimit     = 100
)

// Failure reasons the simulator reports, taken from Luma's "Errors" page.
const (
	FailureReasonSafety = "Advanced prompt moderation failed"
	FailureReasonError  = "Prompt processing failed"
)

const maxBody = 1 << 20

var (
	videoModels  = []string{"ray-2", "ray-flash-2", "ray-1-6"}
	aspectRatios = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
	durations    = map[string]int{"5s": 5, "9s": 9}
	resolutions  = []string{"540p", "720p", "1080p", "4k"}
)

// Sim is a simulated Luma Dream Machine API. Safe for concurrent use.
type Sim struct {
	sim.Server

	mu       sync.Mutex
	maxLimit int // the most generations one page of GET /generations holds
}

// New returns a simulator on a new sim.Core built from cfg. Set the core's
// base URL (Core().SetBaseURL) once the server listens, so that
// assets.video points at it. Its Handler serves the Dream Machine protocol
// and the /__sim endpoints.
func New(cfg sim.Config) *Sim {
	s := &Sim{maxLimit: MaxListLimit}
	routes := sim.Routes{}
	for _, p := range []string{"", BasePath} {
		routes["POST "+p+"/generations/video"] = s.create
		routes["POST "+p+"/generations"] = s.create // the older create path
		routes["GET "+p+"/generations"] = s.list
		routes["GET "+p+"/generations/{id}"] = s.get
		routes["DELETE "+p+"/generations/{id}"] = s.delete
	}
	gate := sim.Gate{Schemes: []string{"Bearer"}, Error: func(w http.ResponseWriter, code int) { writeError(w, code, message(code)) }}
	s.Server = sim.NewServer(cfg, gate, routes)
	return s
}

// SetPageSize caps the page size (the limit) of GET /generations at n
// (MaxListLimit by default), so that tests can make a listing span pages.
func (s *Sim) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxLimit = max(n, 1)
}

// writeError answers in Dream Machine's error shape, {"detail": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	sim.WriteJSON(w, status, map[string]string{"detail": msg})
}

// message is Dream Machine's text for an injected error or a refused key.
func message(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "Invalid or missing API key"
	case http.StatusTooManyRequests:
		return "Too many requests, please slow down"
	case http.StatusServiceUnavailable:
		return "Service temporarily unavailable"
	case http.StatusBadGateway:
		return "Upstream service unavailable"
	}
	return "Internal server error"
}

type frame struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
	ID   string `json:"id,omitempty"`
}

type createRequest struct {
	GenerationType string  `json:"generation_type,omitempty"`
	Model          string  `json:"model"`
	Prompt         *string `json:"prompt,omitempty"`
	AspectRatio    string  `json:"aspect_ratio,omitempty"`
	Duration       string  `json:"duration,omitempty"`
	Resolution     string  `json:"resolution,omitempty"`
	Loop           *bool   `json:"loop,omitempty"`
	CallbackURL    string  `json:"callback_url,omitempty"`
	Keyframes      *struct {
		Frame0 *frame `json:"frame0,omitempty"`
		Frame1 *frame `json:"frame1,omitempty"`
	} `json:"keyframes,omitempty"`
}

func (s *Sim) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	if msg := validate(&req); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	prompt := ""
	if req.Prompt != nil {
		prompt = *req.Prompt
	}
	echo, _ := json.Marshal(req)
	var extra map[string]any
	_ = json.Unmarshal(echo, &extra)
	g := s.Core().Submit(prompt, req.Model, durations[req.Duration], extra)
	sim.WriteJSON(w, http.StatusCreated, generationJSON(g))
}

// validate checks a create request like Dream Machine does (messages from
// its "Errors" page) and fills the defaults.
func validate(req *createRequest) string {
	if req.GenerationType != "" && req.GenerationType != "video" {
		return "Unknown request type"
	}
	if !slices.Contains(videoModels, req.Model) {
		return fmt.Sprintf("Invalid model %q: must be one of %s", req.Model, strings.Join(videoModels, ", "))
	}
	var f0, f1 *frame
	if req.Keyframes != nil {
		f0, f1 = req.Keyframes.Frame0, req.Keyframes.Frame1
		if f0 == nil && f1 == nil {
			return "No keyframes provided"
		}
		for _, f := range []*frame{f0, f1} {
			switch {
			case f == nil:
			case f.Type == "image" && (strings.HasPrefix(f.URL, "https://") || strings.HasPrefix(f.URL, "http://")):
			case f.Type == "generation" && f.ID != "":
			default:
				return "Invalid keyframe: want {type: image, url} or {type: generation, id}"
			}
		}
		if req.Loop != nil && *req.Loop && f1 != nil {
			return "Loop is not supported for end frame"
		}
	}
	n := 0
	if req.Prompt != nil {
		n = utf8.RuneCountInString(*req.Prompt)
	}
	switch {
	case n == 0 && f0 == nil && f1 == nil:
		return "Prompt is required"
	case n > 0 && n < 3:
		return "Prompt is too short, minimum length is 3 characters"
	case n > 5000:
		return "Prompt is too long, maximum length is 5000 characters"
	}
	if req.AspectRatio == "" {
		req.AspectRatio = "16:9"
	}
	if !slices.Contains(aspectRatios, req.AspectRatio) {
		return fmt.Sprintf("Invalid aspect_ratio %q: must be one of %s", req.AspectRatio, strings.Join(aspectRatios, ", "))
	}
	if req.Duration == "" {
		req.Duration = "5s"
	}
	if _, ok := durations[req.Duration]; !ok {
		return fmt.Sprintf("Invalid duration %q: must be 5s or 9s", req.Duration)
	}
	if req.Resolution == "" {
		req.Resolution = "720p"
	}
	if !slices.Contains(resolutions, req.Resolution) {
		return fmt.Sprintf("Invalid resolution %q: must be one of %s", req.Resolution, strings.Join(resolutions, ", "))
	}
	req.GenerationType = "video"
	return ""
}

type generation struct {
	ID             string         `json:"id"`
	GenerationType string         `json:"generation_type"`
	State          string         `json:"state"`
	FailureReason  *string        `json:"failure_reason"`
	CreatedAt      string         `json:"created_at"`
	Assets         *assets        `json:"assets"`
	Model          string         `json:"model"`
	Request        map[string]any `json:"request"`
}

type assets struct {
	Video string `json:"video,omitempty"`
}

func generationJSON(g sim.Generation) generation {
	out := generation{
		ID: g.ID, GenerationType: "video", Model: g.Model, Request: g.Extra,
		CreatedAt: g.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
	}
	reason := func(s string) *string { return &s }
	switch g.State {
	case sim.Queued:
		out.State = "queued"
	case sim.Running:
		out.State = "dreaming"
	case sim.Succeeded:
		out.State = "completed"
		out.Assets = &assets{Video: g.VideoURL}
	case sim.Failed:
		out.State = "failed"
		out.FailureReason = reason(FailureReasonError)
		if g.Failure == sim.FailureSafety {
			out.FailureReason = reason(FailureReasonSafety)
		}
	case sim.Canceled:
		// Dream Machine has no canceled state; DELETE removes the generation.
		out.State = "failed"
		out.FailureReason = reason("Generation was canceled")
	}
	return out
}

func (s *Sim) get(w http.ResponseWriter, r *http.Request) {
	g, ok := s.Core().Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "Generation not found")
		return
	}
	sim.WriteJSON(w, http.StatusOK, generationJSON(g))
}

// list answers GET /generations?limit=&offset= with the account's
// generations, newest first: {"generations": [...], "has_more", "count",
// "limit", "offset"} (lumaai-python's GenerationListResponse). Deleted
// generations are not listed.
func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := DefaultListLimit, 0
	for _, p := range []struct {
		name string
		dst  *int
		min  int
	}{{"limit", &limit, 1}, {"offset", &offset, 0}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < p.min {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid %s %q: must be an integer >= %d", p.name, v, p.min))
			return
		}
		*p.dst = n
	}
	s.mu.Lock()
	limit = min(limit, s.maxLimit)
	s.mu.Unlock()
	all := s.Core().List()
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	out := make([]generation, len(page))
	for i, g := range page {
		out[i] = generationJSON(g)
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{
		"generations": out, "has_more": offset+len(page) < len(all),
		"count": len(page), "limit": limit, "offset": offset,
	})
}

// delete stops a queued or dreaming generation (counted as canceled in the
// stats) and removes it.
func (s *Sim) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.Core().Cancel(id); !ok {
		writeError(w, http.StatusNotFound, "Generation not found")
		return
	}
	s.Core().Delete(id)
	w.WriteHeader(http.StatusNoContent)
}
