package replicate

import (
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// model is what the adapter knows about one Replicate model's input schema.
// Source: the input schemas of google/veo-3.1 and google/veo-3.1-fast on
// Replicate (prompt, duration 4|6|8, aspect_ratio "16:9"|"9:16", resolution
// "720p"|"1080p", image, last_frame, negative_prompt, seed, generate_audio
// default true).
type model struct {
	resolutions []job.Resolution
	aspects     []job.AspectRatio
	durations   []int
}

var veo31 = model{
	resolutions: []job.Resolution{job.Res720p, job.Res1080p},
	aspects:     []job.AspectRatio{job.Aspect16x9, job.Aspect9x16},
	durations:   []int{4, 6, 8},
}

// models are the Replicate models this adapter can drive, by "owner/name".
var models = map[string]model{
	"google/veo-3.1":      veo31,
	"google/veo-3.1-fast": veo31,
}

// input is the "input" object of a prediction for the Veo 3.1 models.
// generate_audio is always sent: the model defaults it to true, and audio
// changes the price.
type input struct {
	Prompt        string `json:"prompt"`
	AspectRatio   string `json:"aspect_ratio"`
	Duration      int    `json:"duration"`
	Resolution    string `json:"resolution"`
	GenerateAudio bool   `json:"generate_audio"`
	Image         string `json:"image,omitempty"`
}

// invalid returns the Permanent error for a request Replicate would refuse.
func invalid(format string, args ...any) error {
	return errclass.New(errclass.Permanent, "replicate: invalid_request: "+format, args...)
}

// planRequest checks req against the model's schema and builds its input.
// It makes no call.
func planRequest(req backend.SubmitRequest) (owner, name string, in input, err error) {
	m, ok := models[req.Model]
	if !ok {
		known := make([]string, 0, len(models))
		for k := range models {
			known = append(known, k)
		}
		slices.Sort(known)
		return "", "", input{}, invalid("unknown model %q (known: %s)", providerhttp.Clip(req.Model), strings.Join(known, ", "))
	}
	owner, name, _ = strings.Cut(req.Model, "/")
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		return "", "", input{}, invalid("prompt is empty")
	case !slices.Contains(m.durations, req.DurationSeconds):
		return "", "", input{}, invalid("%s generates %v s, not %d s", req.Model, m.durations, req.DurationSeconds)
	case !slices.Contains(m.resolutions, req.Resolution):
		return "", "", input{}, invalid("%s has no resolution %q (has %v)", req.Model, req.Resolution, m.resolutions)
	case !slices.Contains(m.aspects, req.AspectRatio):
		return "", "", input{}, invalid("%s has no aspect ratio %q (has %v)", req.Model, req.AspectRatio, m.aspects)
	}
	in = input{
		Prompt:        req.Prompt,
		AspectRatio:   string(req.AspectRatio),
		Duration:      req.DurationSeconds,
		Resolution:    string(req.Resolution),
		GenerateAudio: req.Audio,
	}
	if req.ImageURL != "" {
		if !strings.HasPrefix(req.ImageURL, "https://") && !strings.HasPrefix(req.ImageURL, "http://") &&
			!strings.HasPrefix(req.ImageURL, "data:") {
			return "", "", input{}, invalid("image_url must be an http(s) URL or a data URI")
		}
		in.Image = req.ImageURL
	}
	return owner, name, in, nil
}
