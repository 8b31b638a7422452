package luma

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// Prompt limits of Dream Machine ("Errors" page: "Prompt is too short,
// minimum length is 3 characters", "maximum length is 5000 characters").
const (
	MinPromptChars = 3
	MaxPromptChars = 5000
)

// model is what the adapter knows about a Dream Machine video model (source:
// lumaai-python generations/video_create_params.py).
type model struct {
	resolutions []job.Resolution
	durations   []int // seconds, sent as "5s", "9s"
}

var models = map[string]model{
	"ray-2":       {resolutions: []job.Resolution{job.Res540p, job.Res720p, job.Res1080p, job.Res4K}, durations: []int{5, 9}},
	"ray-flash-2": {resolutions: []job.Resolution{job.Res540p, job.Res720p, job.Res1080p, job.Res4K}, durations: []int{5, 9}},
}

// aspectRatios are the AIPROD aspect ratios Dream Machine takes as they are
// (it also takes 4:3, 3:4, 21:9 and 9:21).
var aspectRatios = []job.AspectRatio{job.Aspect16x9, job.Aspect9x16, job.Aspect1x1}

// createBody is the body of POST /generations/video.
type createBody struct {
	Model       string     `json:"model"`
	Prompt      string     `json:"prompt,omitempty"`
	AspectRatio string     `json:"aspect_ratio"`
	Duration    string     `json:"duration"`
	Resolution  string     `json:"resolution"`
	Keyframes   *keyframes `json:"keyframes,omitempty"`
}

type keyframes struct {
	Frame0 *keyframe `json:"frame0,omitempty"`
}

type keyframe struct {
	Type string `json:"type"` // "image"
	URL  string `json:"url"`
}

func invalid(format string, args ...any) error {
	return errclass.New(errclass.Permanent, "luma: invalid_request: "+format, args...)
}

// planRequest checks that Dream Machine can serve req and builds the body;
// every refusal is errclass.Permanent ("invalid_request").
func planRequest(req backend.SubmitRequest) (createBody, error) {
	m, ok := models[req.Model]
	if !ok {
		return createBody{}, invalid("model %q is not a Dream Machine video model this adapter supports", req.Model)
	}
	if req.Audio {
		return createBody{}, invalid("model %s generates no audio", req.Model)
	}
	if !slices.Contains(m.resolutions, req.Resolution) {
		return createBody{}, invalid("model %s cannot generate %s", req.Model, req.Resolution)
	}
	if !slices.Contains(aspectRatios, req.AspectRatio) {
		return createBody{}, invalid("model %s cannot generate aspect ratio %s", req.Model, req.AspectRatio)
	}
	if !slices.Contains(m.durations, req.DurationSeconds) {
		return createBody{}, invalid("model %s cannot generate %d s (accepts 5 or 9)", req.Model, req.DurationSeconds)
	}
	n := utf8.RuneCountInString(req.Prompt)
	switch {
	case req.ImageURL == "" && n == 0:
		return createBody{}, invalid("a prompt is required without an image")
	case n > 0 && n < MinPromptChars:
		return createBody{}, invalid("prompt is %d characters; Dream Machine needs at least %d", n, MinPromptChars)
	case n > MaxPromptChars:
		return createBody{}, invalid("prompt is %d characters; Dream Machine takes at most %d", n, MaxPromptChars)
	}
	body := createBody{
		Model:       req.Model,
		Prompt:      req.Prompt,
		AspectRatio: string(req.AspectRatio),
		Duration:    durationString(req.DurationSeconds),
		Resolution:  string(req.Resolution),
	}
	if req.ImageURL != "" {
		if !strings.HasPrefix(req.ImageURL, "https://") && !strings.HasPrefix(req.ImageURL, "http://") {
			return createBody{}, invalid("image_url: Dream Machine fetches keyframes from a public URL; data URIs are not accepted")
		}
		body.Keyframes = &keyframes{Frame0: &keyframe{Type: "image", URL: req.ImageURL}}
	}
	return body, nil
}

func durationString(s int) string { return strconv.Itoa(s) + "s" }
