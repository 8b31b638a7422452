package runway

import (
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// MaxPromptUTF16 is Runway's limit on promptText: 1000 UTF-16 code units.
const MaxPromptUTF16 = 1000

// ratios maps a resolution and an aspect ratio to Runway's ratio string
// ("width:height" in pixels), which chooses both at once.
type ratios map[job.Resolution]map[job.AspectRatio]string

// model is what the adapter knows about one Runway video model: which
// endpoints take it, the ratio strings each endpoint accepts, its durations
// and whether it takes the audio flag. Source: the request schemas of the
// runwayml/sdk-python types text_to_video_create_params.py and
// image_to_video_create_params.py (API version 2024-11-06).
type model struct {
	textToVideo  ratios // nil: the model has no text-to-video
	imageToVideo ratios // nil: the model has no image-to-video
	durations    []int  // accepted durations in seconds
	audioFlag    bool   // the request takes "audio": true|false
	alwaysAudio  bool   // the model always generates audio (veo3)
}

var (
	gen4Durations = []int{2, 3, 4, 5, 6, 7, 8, 9, 10}

	gen720 = ratios{job.Res720p: {job.Aspect16x9: "1280:720", job.Aspect9x16: "720:1280", job.Aspect1x1: "960:960"}}
	// Gen-4.5 text-to-video takes only the two 720p landscape/portrait ratios.
	gen45Text = ratios{job.Res720p: {job.Aspect16x9: "1280:720", job.Aspect9x16: "720:1280"}}
	// Veo on Runway: 720p or 1080p, landscape or portrait, no square.
	veoRatios = ratios{
		job.Res720p:  {job.Aspect16x9: "1280:720", job.Aspect9x16: "720:1280"},
		job.Res1080p: {job.Aspect16x9: "1920:1080", job.Aspect9x16: "1080:1920"},
	}
)

// models are the Runway video models this adapter can drive.
var models = map[string]model{
	"gen4_turbo":  {imageToVideo: gen720, durations: gen4Durations},
	"gen4.5":      {textToVideo: gen45Text, imageToVideo: gen720, durations: gen4Durations},
	"veo3.1":      {textToVideo: veoRatios, imageToVideo: veoRatios, durations: []int{4, 6, 8}, audioFlag: true},
	"veo3.1_fast": {textToVideo: veoRatios, imageToVideo: veoRatios, durations: []int{4, 6, 8}, audioFlag: true},
	"veo3":        {textToVideo: veoRatios, imageToVideo: veoRatios, durations: []int{8}, alwaysAudio: true},
}

// invalid returns the Permanent error for a request Runway would refuse.
func invalid(format string, args ...any) error {
	return errclass.New(errclass.Permanent, "runway: invalid_request: "+format, args...)
}

// plan is a validated request: the endpoint to call and its body.
type plan struct {
	path string
	body createBody
}

// createBody is the JSON body of POST /v1/text_to_video and
// POST /v1/image_to_video.
type createBody struct {
	Model       string `json:"model"`
	PromptText  string `json:"promptText,omitempty"`
	PromptImage string `json:"promptImage,omitempty"`
	Ratio       string `json:"ratio"`
	Duration    int    `json:"duration"`
	Audio       *bool  `json:"audio,omitempty"`
}

// planRequest checks that the model can do what req asks and builds the
// request; every refusal is errclass.Permanent ("invalid_request").
func planRequest(req backend.SubmitRequest) (plan, error) {
	m, ok := models[req.Model]
	if !ok {
		return plan{}, invalid("model %q is not a Runway video model this adapter supports", req.Model)
	}
	p := plan{path: "/v1/text_to_video", body: createBody{Model: req.Model, PromptText: req.Prompt, Duration: req.DurationSeconds}}
	table := m.textToVideo
	if req.ImageURL != "" {
		p.path = "/v1/image_to_video"
		p.body.PromptImage = req.ImageURL
		table = m.imageToVideo
		if table == nil {
			return plan{}, invalid("model %s has no image-to-video", req.Model)
		}
		if err := checkImage(req.ImageURL); err != "" {
			return plan{}, invalid("image_url: %s", err)
		}
	} else {
		if table == nil {
			return plan{}, invalid("model %s is image-to-video only: an image_url is required", req.Model)
		}
		if req.Prompt == "" {
			return plan{}, invalid("text-to-video needs a prompt")
		}
	}
	if n := len(utf16.Encode([]rune(req.Prompt))); n > MaxPromptUTF16 {
		return plan{}, invalid("prompt is %d UTF-16 code units; Runway takes at most %d", n, MaxPromptUTF16)
	}
	byAspect, ok := table[req.Resolution]
	if !ok {
		return plan{}, invalid("model %s cannot generate %s", req.Model, req.Resolution)
	}
	ratio, ok := byAspect[req.AspectRatio]
	if !ok {
		return plan{}, invalid("model %s cannot generate %s at %s", req.Model, req.AspectRatio, req.Resolution)
	}
	p.body.Ratio = ratio
	if !slices.Contains(m.durations, req.DurationSeconds) {
		return plan{}, invalid("model %s cannot generate %d s (accepts %v)", req.Model, req.DurationSeconds, m.durations)
	}
	switch {
	case m.audioFlag:
		audio := req.Audio // always sent: the provider's default may be audio on, which costs more
		p.body.Audio = &audio
	case req.Audio && !m.alwaysAudio:
		return plan{}, invalid("model %s cannot generate audio", req.Model)
	}
	return p, nil
}

// checkImage returns "" when Runway can fetch s: an https URL or a data URI
// (Runway refuses http and other schemes).
func checkImage(s string) string {
	if strings.HasPrefix(s, "data:") || strings.HasPrefix(s, "https://") {
		return ""
	}
	return "Runway accepts only https URLs or data URIs"
}
