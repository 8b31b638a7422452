// Package falsim is a simulated fal queue (https://queue.fal.run) for the
// dev stack and for the fal adapter's contract tests. It speaks fal's queue
// protocol on top of sim.Core; it is not for production.
//
// # Protocol
//
//   - POST /{model id} (e.g. /fal-ai/veo3.1/fast) with "Authorization: Key
//     <key>" and the model input {prompt, aspect_ratio, duration "4s"|"6s"|"8s",
//     resolution, generate_audio, image_url} → 200 {request_id, status_url,
//     response_url, cancel_url, queue_position}. The URLs are absolute, on the
//     host the request came to, and use only the owner and app of the model
//     id (/fal-ai/veo3.1/requests/{id}/status), as fal's do. Invalid input is
//     422 {"detail": [{"loc", "msg", "type"}]}.
//   - GET /{owner}/{app}/requests/{id}/status → 202 IN_QUEUE (queue_position)
//     or IN_PROGRESS, 200 COMPLETED. A failed generation is COMPLETED with
//     "error" and "error_type" (content_policy_violation for "[sim:unsafe]",
//     runner_server_error for "[sim:fail]"); a canceled one is COMPLETED with
//     error_type "request_cancelled" (fal does not document this case; the
//     simulator's choice).
//   - GET /{owner}/{app}/requests/{id} → 200 {"video": {"url", ...}}; 422
//     content_policy_violation detail; 500 with X-Fal-Error-Type; 400 while
//     the request is still in progress.
//   - PUT /{owner}/{app}/requests/{id}/cancel → 202 CANCELLATION_REQUESTED,
//     400 ALREADY_COMPLETED, 404 NOT_FOUND.
//
// Every protocol call first applies the injected faults (sim.Core.Inject):
// 429 comes with Retry-After: 1, and every error body is fal's {"detail"}.
// A missing or non-"Key" Authorization is 401; Core().SetCredential pins
// the key (sim.Gate). The /__sim endpoints of sim.Core are mounted too.
package falsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aiprod/aiprod/pkg/sim"
)

// Sim is a simulated fal queue. Safe for concurrent use.
type Sim struct {
	sim.Server

	mu   sync.Mutex
	apps map[string]string // request id → owner/app of its model id
}

// New returns a simulator whose generations follow cfg. When cfg.BaseURL is
// empty, the first request's host becomes the base of video URLs. Its
// Handler serves fal's queue protocol and the /__sim endpoints.
func New(cfg sim.Config) *Sim {
	s := &Sim{apps: map[string]string{}}
	s.Server = sim.NewServer(cfg, sim.Gate{Schemes: []string{"Key"}, Error: writeFault}, sim.Routes{
		"POST /{model...}":                        s.submit,
		"GET /{owner}/{app}/requests/{id}/status": s.status,
		"GET /{owner}/{app}/requests/{id}":        s.result,
		"PUT /{owner}/{app}/requests/{id}/cancel": s.cancel,
	})
	return s
}

// writeFault answers an injected error or a refused key as fal does.
func writeFault(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusTooManyRequests:
		writeDetail(w, code, "Too many requests: concurrent request limit reached")
	case http.StatusUnauthorized:
		writeDetail(w, code, "No valid credentials: expected 'Authorization: Key <key>'")
	default:
		writeDetail(w, code, http.StatusText(code))
	}
}

type validationError struct {
	Loc   []string `json:"loc"`
	Msg   string   `json:"msg"`
	Type  string   `json:"type"`
	Input any      `json:"input,omitempty"`
}

func invalid(field, msg, typ string, input any) validationError {
	return validationError{Loc: []string{"body", field}, Msg: msg, Type: typ, Input: input}
}

func (s *Sim) submit(w http.ResponseWriter, r *http.Request) {
	model := strings.Trim(r.PathValue("model"), "/")
	parts := strings.Split(model, "/")
	if len(parts) < 2 || slices.Contains(parts, "") {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("Application %q not found", model))
		return
	}
	var in map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil || in == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []validationError{
			{Loc: []string{"body"}, Msg: "Input should be a valid JSON object", Type: "json_invalid"}}})
		return
	}
	imageToVideo := strings.HasSuffix(model, "/image-to-video")
	var errs []validationError
	prompt, _ := in["prompt"].(string)
	if strings.TrimSpace(prompt) == "" {
		errs = append(errs, invalid("prompt", "Field required", "missing", nil))
	}
	str := func(field, def string, allowed ...string) string {
		v, present := in[field]
		if !present {
			return def
		}
		sv, ok := v.(string)
		if !ok || !slices.Contains(allowed, sv) {
			errs = append(errs, invalid(field, "Input should be "+quoteList(allowed), "literal_error", v))
		}
		return sv
	}
	aspects := []string{"16:9", "9:16"}
	if imageToVideo {
		aspects = append(aspects, "auto")
	}
	duration := str("duration", "8s", "4s", "6s", "8s")
	str("aspect_ratio", "16:9", aspects...)
	str("resolution", "720p", "720p", "1080p", "4k")
	if v, present := in["generate_audio"]; present {
		if _, ok := v.(bool); !ok {
			errs = append(errs, invalid("generate_audio", "Input should be a valid boolean", "bool_type", v))
		}
	}
	if img, _ := in["image_url"].(string); imageToVideo && img == "" {
		errs = append(errs, invalid("image_url", "Field required", "missing", nil))
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
		return
	}
	secs, _ := strconv.Atoi(strings.TrimSuffix(duration, "s"))
	g := s.Core().Submit(prompt, model, secs, in)
	app := parts[0] + "/" + parts[1]
	s.mu.Lock()
	s.apps[g.ID] = app
	s.mu.Unlock()
	root := sim.Origin(r) + "/" + app + "/requests/" + g.ID
	writeJSON(w, http.StatusOK, map[string]any{
		"status":         "IN_QUEUE",
		"request_id":     g.ID,
		"response_url":   root,
		"status_url":     root + "/status",
		"cancel_url":     root + "/cancel",
		"queue_position": 0,
	})
}

// lookup finds the request named by the path, checking its owner/app.
func (s *Sim) lookup(r *http.Request) (id string, ok bool) {
	id = r.PathValue("id")
	s.mu.Lock()
	app, known := s.apps[id]
	s.mu.Unlock()
	return id, known && app == r.PathValue("owner")+"/"+r.PathValue("app")
}

// get reads the request the path names (a poll, in the stats); a request
// that is not there, or not of that owner/app, it answers 404 itself.
func (s *Sim) get(w http.ResponseWriter, r *http.Request) (sim.Generation, bool) {
	id, ok := s.lookup(r)
	g, found := s.Core().Get(id)
	if !ok || !found {
		writeDetail(w, http.StatusNotFound, "Request not found")
		return sim.Generation{}, false
	}
	return g, true
}

func (s *Sim) status(w http.ResponseWriter, r *http.Request) {
	g, ok := s.get(w, r)
	if !ok {
		return
	}
	root := sim.Origin(r) + "/" + r.PathValue("owner") + "/" + r.PathValue("app") + "/requests/" + g.ID
	body := map[string]any{"request_id": g.ID, "response_url": root, "status_url": root + "/status", "cancel_url": root + "/cancel"}
	if r.URL.Query().Get("logs") == "1" {
		body["logs"] = []any{}
	}
	switch g.State {
	case sim.Queued:
		body["status"], body["queue_position"] = "IN_QUEUE", 0
		writeJSON(w, http.StatusAccepted, body)
		return
	case sim.Running:
		body["status"] = "IN_PROGRESS"
		writeJSON(w, http.StatusAccepted, body)
		return
	}
	body["status"] = "COMPLETED"
	switch g.State {
	case sim.Succeeded:
		body["metrics"] = map[string]any{"inference_time": 1.0}
	case sim.Canceled:
		body["error"], body["error_type"] = "Request was cancelled", "request_cancelled"
	case sim.Failed:
		if g.Failure == sim.FailureSafety {
			body["error"], body["error_type"] = "The content was flagged by a content checker.", "content_policy_violation"
		} else {
			body["error"], body["error_type"] = "Internal server error", "runner_server_error"
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Sim) result(w http.ResponseWriter, r *http.Request) {
	g, ok := s.get(w, r)
	if !ok {
		return
	}
	switch g.State {
	case sim.Queued, sim.Running:
		writeDetail(w, http.StatusBadRequest, "Request is still in progress")
	case sim.Succeeded:
		writeJSON(w, http.StatusOK, map[string]any{"video": map[string]any{
			"url": g.VideoURL, "content_type": "video/mp4", "file_name": g.ID + ".mp4", "file_size": len(sim.VideoBytes),
		}})
	case sim.Canceled:
		w.Header().Set("X-Fal-Error-Type", "request_cancelled")
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": "Request was cancelled", "error_type": "request_cancelled"})
	case sim.Failed:
		if g.Failure == sim.FailureSafety {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []validationError{{
				Loc: []string{"body", "prompt"}, Msg: "The content was flagged by a content checker.",
				Type: "content_policy_violation", Input: g.Prompt,
			}}})
			return
		}
		w.Header().Set("X-Fal-Error-Type", "runner_server_error")
		writeJSON(w, http.StatusInternalServerError, map[string]any{"detail": "Internal server error", "error_type": "runner_server_error"})
	}
}

func (s *Sim) cancel(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lookup(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "NOT_FOUND"})
		return
	}
	g, found := s.Core().Cancel(id)
	switch {
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "NOT_FOUND"})
	case g.State == sim.Canceled:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "CANCELLATION_REQUESTED"})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"status": "ALREADY_COMPLETED"})
	}
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

func writeDetail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"detail": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) { sim.WriteJSON(w, code, v) }
