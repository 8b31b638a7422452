// Package replicatesim is a simulated Replicate HTTP API
// (https://api.replicate.com) for the dev stack and for the Replicate
// adapter's contract tests. It speaks Replicate's predictions protocol on top
// of sim.Core; it is not for production.
//
// # Protocol
//
//   - POST /v1/models/{owner}/{name}/predictions {"input": {prompt, duration
//     4|6|8, aspect_ratio "16:9"|"9:16", resolution "720p"|"1080p",
//     generate_audio, image}} → 201 with the prediction. Invalid input is 422
//     with a problem body and invalid_fields. A Cancel-After header (a Go
//     duration such as "15m" or "90s") sets a deadline: a prediction that
//     has not started by then is "aborted", one still running "canceled".
//   - GET /v1/predictions/{id} → the prediction: status starting (queued),
//     processing, succeeded (output: the video URL), failed (error: "... (E005)"
//     for "[sim:unsafe]", "... (E1000)" for "[sim:fail]"), canceled or aborted;
//     created_at, started_at, completed_at, metrics.predict_time, urls.
//   - POST /v1/predictions/{id}/cancel → 200 with the prediction.
//   - GET /v1/predictions[?created_after=&created_before=] → {"next",
//     "previous", "results": [...]}: the predictions, newest first, PageSize
//     (100) a page; "next" is the URL of the following page (a "cursor"
//     query parameter, with the same filters) or null on the last one.
//     created_after keeps those created at or after an RFC 3339 time,
//     created_before those created before one. This is what a reconciliation
//     reads.
//
// Every protocol call first applies the injected faults (sim.Core.Inject):
// 429 comes with Retry-After: 1 and "resets in ~1s", every error body is an
// RFC 7807 problem {"title", "detail", "status"}. Authorization must be
// "Bearer <token>" or "Token <token>" (401 otherwise); Core().SetCredential
// pins the token (sim.Gate). The /__sim endpoints of sim.Core are mounted too.
package replicatesim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/sim"
)

// PageSize is how many predictions one page of GET /v1/predictions holds,
// as on Replicate.
const PageSize = 100

// Sim is a simulated Replicate API. Safe for concurrent use.
type Sim struct {
	sim.Server

	mu       sync.Mutex
	preds    map[string]*meta
	pageSize int
}

// meta is what the simulator adds to a core generation.
type meta struct {
	model      string
	input      map[string]any
	deadline   time.Time // from Cancel-After; zero when none
	canceledAt time.Time // when the cancel endpoint was called
}

// New returns a simulator whose generations follow cfg. When cfg.BaseURL is
// empty, the first request's host becomes the base of video URLs. Its
// Handler serves Replicate's predictions protocol and the /__sim endpoints.
func New(cfg sim.Config) *Sim {
	s := &Sim{preds: map[string]*meta{}, pageSize: PageSize}
	s.Server = sim.NewServer(cfg, sim.Gate{Schemes: []string{"Bearer", "Token"}, Error: writeFault}, sim.Routes{
		"POST /v1/models/{owner}/{name}/predictions": s.create,
		"GET /v1/predictions/{id}":                   s.get,
		"POST /v1/predictions/{id}/cancel":           s.cancel,
		"GET /v1/predictions":                        s.list,
	})
	return s
}

// SetPageSize sets how many predictions one page of GET /v1/predictions
// holds (PageSize by default), so that tests can make a listing span pages.
func (s *Sim) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// writeFault answers an injected error or a refused token as Replicate does.
func writeFault(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusTooManyRequests:
		problem(w, code, "Request was throttled", fmt.Sprintf("Request was throttled. Your rate limit resets in ~%ds.", sim.RetryAfterSeconds))
	case http.StatusUnauthorized:
		problem(w, code, "Unauthenticated", "You did not pass a valid authentication token")
	default:
		problem(w, code, http.StatusText(code), "The service is temporarily unavailable. Please try again.")
	}
}

type invalidField struct {
	Type        string `json:"type"`
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (s *Sim) create(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("owner") + "/" + r.PathValue("name")
	var body struct {
		Input map[string]any `json:"input"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, "Invalid JSON", "The request body is not valid JSON: "+err.Error())
		return
	}
	var deadline time.Time
	if v := r.Header.Get("Cancel-After"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problem(w, http.StatusBadRequest, "Invalid Cancel-After header", fmt.Sprintf("Cancel-After %q is not a positive duration such as 5m or 30s", v))
			return
		}
		deadline = s.Core().Now().Add(d)
	}
	in := body.Input
	var bad []invalidField
	if in == nil {
		bad = append(bad, invalidField{"required", "input", "input is required"})
		in = map[string]any{}
	}
	prompt, _ := in["prompt"].(string)
	if strings.TrimSpace(prompt) == "" {
		bad = append(bad, invalidField{"required", "input.prompt", "prompt is required"})
	}
	duration := 8
	if v, present := in["duration"]; present {
		f, ok := v.(float64)
		if !ok || !slices.Contains([]float64{4, 6, 8}, f) {
			bad = append(bad, invalidField{"enum", "input.duration", "duration must be one of the following: 4, 6, 8"})
		}
		duration = int(f)
	}
	enum := func(field string, allowed ...string) {
		v, present := in[field]
		if !present {
			return
		}
		if sv, ok := v.(string); !ok || !slices.Contains(allowed, sv) {
			bad = append(bad, invalidField{"enum", "input." + field, field + " must be one of the following: " + strings.Join(allowed, ", ")})
		}
	}
	enum("aspect_ratio", "16:9", "9:16")
	enum("resolution", "720p", "1080p")
	if v, present := in["generate_audio"]; present {
		if _, ok := v.(bool); !ok {
			bad = append(bad, invalidField{"invalid_type", "input.generate_audio", "generate_audio must be a boolean"})
		}
	}
	if len(bad) > 0 {
		details := make([]string, len(bad))
		for i, f := range bad {
			details[i] = "- " + f.Field + ": " + f.Description
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"title": "Input validation failed", "detail": strings.Join(details, "\n"),
			"status": http.StatusUnprocessableEntity, "invalid_fields": bad,
		})
		return
	}
	g := s.Core().Submit(prompt, model, duration, in)
	s.mu.Lock()
	s.preds[g.ID] = &meta{model: model, input: in, deadline: deadline}
	s.mu.Unlock()
	p, _ := s.prediction(r, g.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Sim) get(w http.ResponseWriter, r *http.Request) {
	p, ok := s.prediction(r, r.PathValue("id"))
	if !ok {
		problem(w, http.StatusNotFound, "Not found", "The requested resource could not be found.")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Sim) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	m, ok := s.preds[id]
	s.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "Not found", "The requested resource could not be found.")
		return
	}
	if g, found := s.Core().Cancel(id); found && g.State == sim.Canceled {
		s.mu.Lock()
		if m.canceledAt.IsZero() {
			m.canceledAt = s.Core().Now()
		}
		s.mu.Unlock()
	}
	p, _ := s.prediction(r, id)
	writeJSON(w, http.StatusOK, p)
}

func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after, before time.Time
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &after}, {"created_before", &before}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			problem(w, http.StatusBadRequest, "Invalid "+f.name, f.name+" must be an ISO 8601 date-time, such as 2026-11-25T12:00:00Z")
			return
		}
		*f.dst = t
	}
	var ids []string
	for _, g := range s.Core().List() {
		if (after.IsZero() || !g.CreatedAt.Before(after)) && (before.IsZero() || g.CreatedAt.Before(before)) {
			ids = append(ids, g.ID)
		}
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		last, err := base64.RawURLEncoding.DecodeString(c)
		i := slices.Index(ids, string(last))
		if err != nil || i < 0 {
			problem(w, http.StatusBadRequest, "Invalid cursor", "The cursor is not valid.")
			return
		}
		start = i + 1
	}
	s.mu.Lock()
	size := s.pageSize
	s.mu.Unlock()
	end := min(start+size, len(ids))
	results := make([]map[string]any, 0, end-start)
	for _, id := range ids[start:end] {
		if p, ok := s.prediction(r, id); ok {
			results = append(results, p)
		}
	}
	var next any
	if end < len(ids) {
		nq := url.Values{}
		for _, k := range []string{"created_after", "created_before"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(ids[end-1])))
		next = sim.Origin(r) + "/v1/predictions?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, map[string]any{"next": next, "previous": nil, "results": results})
}

// prediction renders a prediction as Replicate does, applying its
// Cancel-After deadline.
func (s *Sim) prediction(r *http.Request, id string) (map[string]any, bool) {
	s.mu.Lock()
	m, ok := s.preds[id]
	var mc meta
	if ok {
		mc = *m
	}
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	g, found := s.Core().Get(id)
	if !found {
		return nil, false
	}
	cfg := s.Core().Config()
	now := cfg.Now()
	started := g.CreatedAt.Add(cfg.QueueTime)
	finished := started.Add(cfg.RunTime)
	status, errText, output := "", any(nil), any(nil)
	var startedAt, completedAt *time.Time
	// The Cancel-After deadline passed before the generation could finish
	// (and before any explicit cancel).
	deadlineHit := !mc.deadline.IsZero() && !now.Before(mc.deadline) && mc.deadline.Before(finished) &&
		(mc.canceledAt.IsZero() || mc.deadline.Before(mc.canceledAt))
	switch {
	case deadlineHit:
		s.Core().Cancel(id)
		completedAt = &mc.deadline
		status = "canceled"
		if mc.deadline.Before(started) {
			status = "aborted"
		} else {
			startedAt = &started
		}
	case g.State == sim.Canceled:
		status = "canceled"
		end := mc.canceledAt
		if end.IsZero() {
			end = now
		}
		if !end.Before(started) {
			startedAt = &started
		}
		completedAt = &end
	case g.State == sim.Queued:
		status = "starting"
	case g.State == sim.Running:
		status, startedAt = "processing", &started
	case g.State == sim.Succeeded:
		status, startedAt, completedAt, output = "succeeded", &started, &finished, g.VideoURL
	case g.State == sim.Failed:
		status, startedAt, completedAt = "failed", &started, &finished
		errText = "Prediction failed due to an unexpected error (E1000)"
		if g.Failure == sim.FailureSafety {
			errText = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
		}
	}
	base := sim.Origin(r) + "/v1/predictions/" + id
	p := map[string]any{
		"id": id, "model": mc.model, "version": "hidden", "input": mc.input,
		"logs": "", "output": output, "error": errText, "status": status, "data_removed": false,
		"created_at": stamp(&g.CreatedAt), "started_at": stamp(startedAt), "completed_at": stamp(completedAt),
		"urls": map[string]string{"get": base, "cancel": base + "/cancel", "web": "https://replicate.com/p/" + id},
	}
	if completedAt != nil {
		metrics := map[string]any{"total_time": completedAt.Sub(g.CreatedAt).Seconds()}
		if startedAt != nil {
			metrics["predict_time"] = completedAt.Sub(*startedAt).Seconds()
		}
		p["metrics"] = metrics
	}
	return p, true
}

func stamp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func problem(w http.ResponseWriter, code int, title, detail string) {
	writeJSON(w, code, map[string]any{"title": title, "detail": detail, "status": code})
}

func writeJSON(w http.ResponseWriter, code int, v any) { sim.WriteJSON(w, code, v) }
