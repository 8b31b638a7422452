package fal

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// model is what the adapter knows about one fal video endpoint family: the
// endpoint for text-to-video and the one for image-to-video (fal serves them
// at different model ids), and the values its input schema accepts.
//
// Source: the input schemas on fal's model pages (fal-ai/veo3.1,
// fal-ai/veo3.1/fast; https://fal.ai/models/fal-ai/veo3.1/llms.txt):
// aspect_ratio "16:9" | "9:16", duration "4s" | "6s" | "8s",
// resolution "720p" | "1080p" | "4k", generate_audio (default true),
// image_url on the image-to-video endpoints.
type model struct {
	textToVideo  string
	imageToVideo string
	resolutions  []job.Resolution
	aspects      []job.AspectRatio
	durations    []int
}

var veo31 = model{
	resolutions: []job.Resolution{job.Res720p, job.Res1080p, job.Res4K},
	aspects:     []job.AspectRatio{job.Aspect16x9, job.Aspect9x16},
	durations:   []int{4, 6, 8},
}

func withEndpoints(m model, t2v, i2v string) model {
	m.textToVideo, m.imageToVideo = t2v, i2v
	return m
}

// models are the fal endpoints this adapter can drive, by the name the
// catalog uses (the text-to-video model id). A request with an image goes to
// the family's image-to-video endpoint.
var models = map[string]model{
	"fal-ai/veo3.1":      withEndpoints(veo31, "fal-ai/veo3.1", "fal-ai/veo3.1/image-to-video"),
	"fal-ai/veo3.1/fast": withEndpoints(veo31, "fal-ai/veo3.1/fast", "fal-ai/veo3.1/fast/image-to-video"),
}

// input is the JSON body of a queue submission for the Veo 3.1 endpoints.
// generate_audio is always sent: fal defaults it to true, and audio changes
// the price.
type input struct {
	Prompt        string `json:"prompt"`
	AspectRatio   string `json:"aspect_ratio"`
	Duration      string `json:"duration"`
	Resolution    string `json:"resolution"`
	GenerateAudio bool   `json:"generate_audio"`
	ImageURL      string `json:"image_url,omitempty"`
}

// plan is a validated request: the model id to submit to and its input.
type plan struct {
	modelID string
	input   input
}

// invalid returns the Permanent error for a request fal would refuse.
func invalid(format string, args ...any) error {
	return errclass.New(errclass.Permanent, "fal: invalid_request: "+format, args...)
}

// planRequest checks req against what the model accepts and builds the
// submission. It makes no call.
func planRequest(req backend.SubmitRequest) (plan, error) {
	m, ok := models[req.Model]
	if !ok {
		known := make([]string, 0, len(models))
		for k := range models {
			known = append(known, k)
		}
		slices.Sort(known)
		return plan{}, invalid("unknown model %q (known: %s)", providerhttp.Clip(req.Model), strings.Join(known, ", "))
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return plan{}, invalid("prompt is empty")
	}
	if !slices.Contains(m.durations, req.DurationSeconds) {
		return plan{}, invalid("%s generates %v s, not %d s", req.Model, m.durations, req.DurationSeconds)
	}
	if !slices.Contains(m.resolutions, req.Resolution) {
		return plan{}, invalid("%s has no resolution %q (has %v)", req.Model, req.Resolution, m.resolutions)
	}
	if !slices.Contains(m.aspects, req.AspectRatio) {
		return plan{}, invalid("%s has no aspect ratio %q (has %v)", req.Model, req.AspectRatio, m.aspects)
	}
	p := plan{
		modelID: m.textToVideo,
		input: input{
			Prompt:        req.Prompt,
			AspectRatio:   string(req.AspectRatio),
			Duration:      fmt.Sprintf("%ds", req.DurationSeconds),
			Resolution:    string(req.Resolution),
			GenerateAudio: req.Audio,
		},
	}
	if req.ImageURL != "" {
		if !strings.HasPrefix(req.ImageURL, "https://") && !strings.HasPrefix(req.ImageURL, "http://") &&
			!strings.HasPrefix(req.ImageURL, "data:") {
			return plan{}, invalid("image_url must be an http(s) URL or a data URI")
		}
		p.modelID = m.imageToVideo
		p.input.ImageURL = req.ImageURL
	}
	return p, nil
}
