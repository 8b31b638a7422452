package fal

import (
	"fmt"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/modelspec"
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
	modelspec.Spec
	textToVideo  string
	imageToVideo string
}

var veo31 = modelspec.Spec{
	Resolutions: []job.Resolution{job.Res720p, job.Res1080p, job.Res4K},
	Aspects:     []job.AspectRatio{job.Aspect16x9, job.Aspect9x16},
	Durations:   []int{4, 6, 8},
}

// models are the fal endpoints this adapter can drive, by the name the
// catalog uses (the text-to-video model id). A request with an image goes to
// the family's image-to-video endpoint.
var models = map[string]model{
	"fal-ai/veo3.1":      {Spec: veo31, textToVideo: "fal-ai/veo3.1", imageToVideo: "fal-ai/veo3.1/image-to-video"},
	"fal-ai/veo3.1/fast": {Spec: veo31, textToVideo: "fal-ai/veo3.1/fast", imageToVideo: "fal-ai/veo3.1/fast/image-to-video"},
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

// planRequest checks req against what the model accepts and builds the
// submission. It makes no call.
func planRequest(req backend.SubmitRequest) (plan, error) {
	m, err := modelspec.Lookup("fal", models, req.Model)
	if err == nil {
		err = m.Check("fal", req)
	}
	if err != nil {
		return plan{}, err
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
			return plan{}, modelspec.Invalid("fal", "image_url must be an http(s) URL or a data URI")
		}
		p.modelID = m.imageToVideo
		p.input.ImageURL = req.ImageURL
	}
	return p, nil
}
