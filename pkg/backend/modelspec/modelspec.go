// Package modelspec is what AIPROD's adapters know about the video models
// a provider serves: the durations, resolutions and aspect ratios each one
// generates, and the check of a backend.SubmitRequest against them that an
// adapter makes before any call. Its refusals are errclass.Permanent errors
// whose text is "<provider>: invalid_request: ...", the class and wording
// every adapter gives a request its provider would refuse.
package modelspec

import (
	"maps"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// Spec is what one model generates. Its zero value generates nothing.
type Spec struct {
	Resolutions []job.Resolution
	Aspects     []job.AspectRatio
	Durations   []int // seconds
}

// Check returns nil when req has a prompt (not blank) and asks for a
// duration, resolution and aspect ratio the model generates; otherwise the
// Invalid error for the first that fails, in that order, such as
// "veo: invalid_request: veo-3.0-generate-001 generates [4 6 8] s, not 5 s".
func (s Spec) Check(provider string, req backend.SubmitRequest) error {
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		return Invalid(provider, "prompt is empty")
	case !slices.Contains(s.Durations, req.DurationSeconds):
		return Invalid(provider, "%s generates %v s, not %d s", req.Model, s.Durations, req.DurationSeconds)
	case !slices.Contains(s.Resolutions, req.Resolution):
		return Invalid(provider, "%s has no resolution %q (has %v)", req.Model, req.Resolution, s.Resolutions)
	case !slices.Contains(s.Aspects, req.AspectRatio):
		return Invalid(provider, "%s has no aspect ratio %q (has %v)", req.Model, req.AspectRatio, s.Aspects)
	}
	return nil
}

// Lookup returns what models holds for name, or the Invalid error "unknown
// model "name" (known: a, b)" listing the names it holds.
func Lookup[M any](provider string, models map[string]M, name string) (M, error) {
	m, ok := models[name]
	if !ok {
		known := strings.Join(slices.Sorted(maps.Keys(models)), ", ")
		return m, Invalid(provider, "unknown model %q (known: %s)", providerhttp.Clip(name), known)
	}
	return m, nil
}

// Invalid returns the Permanent error for a request provider would refuse:
// "<provider>: invalid_request: " and the formatted text.
func Invalid(provider, format string, args ...any) error {
	return errclass.New(errclass.Permanent, provider+": invalid_request: "+format, args...)
}
