package replicate

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/modelspec"
	"github.com/aiprod/aiprod/pkg/job"
)

// What the adapter knows about the Replicate models' input schemas.
// Source: the input schemas of google/veo-3.1 and google/veo-3.1-fast on
// Replicate (prompt, duration 4|6|8, aspect_ratio "16:9"|"9:16", resolution
// "720p"|"1080p", image, last_frame, negative_prompt, seed, generate_audio
// default true).
var veo31 = modelspec.Spec{
	Resolutions: []job.Resolution{job.Res720p, job.Res1080p},
	Aspects:     []job.AspectRatio{job.Aspect16x9, job.Aspect9x16},
	Durations:   []int{4, 6, 8},
}

// models are the Replicate models this adapter can drive, by "owner/name".
var models = map[string]modelspec.Spec{
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

// planRequest checks req against the model's schema and builds its input.
// It makes no call.
func planRequest(req backend.SubmitRequest) (owner, name string, in input, err error) {
	m, err := modelspec.Lookup("replicate", models, req.Model)
	if err == nil {
		err = m.Check("replicate", req)
	}
	if err != nil {
		return "", "", input{}, err
	}
	owner, name, _ = strings.Cut(req.Model, "/")
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
			return "", "", input{}, modelspec.Invalid("replicate", "image_url must be an http(s) URL or a data URI")
		}
		in.Image = req.ImageURL
	}
	return owner, name, in, nil
}
