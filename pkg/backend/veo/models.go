package veo

import (
	"encoding/base64"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/modelspec"
	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/job"
)

// What the adapter knows about the Veo models on Vertex AI. Source: the
// Veo on Vertex AI API reference (durationSeconds 4|6|8 for Veo 3 models,
// aspectRatio "16:9"|"9:16", resolution "720p"|"1080p", and "4k" for Veo
// 3.1 standard and fast).
var (
	veo3     = modelspec.Spec{Resolutions: []job.Resolution{job.Res720p, job.Res1080p}, Aspects: []job.AspectRatio{job.Aspect16x9, job.Aspect9x16}, Durations: []int{4, 6, 8}}
	veo31    = modelspec.Spec{Resolutions: []job.Resolution{job.Res720p, job.Res1080p, job.Res4K}, Aspects: veo3.Aspects, Durations: veo3.Durations}
	veo31Lit = veo3
)

// models are the Veo models this adapter can drive, by Vertex model id.
var models = map[string]modelspec.Spec{
	"veo-3.1-generate-001":      veo31,
	"veo-3.1-fast-generate-001": veo31,
	"veo-3.1-lite-generate-001": veo31Lit,
	"veo-3.0-generate-001":      veo3,
	"veo-3.0-fast-generate-001": veo3,
}

// media is an image for Vertex: inline bytes or a Cloud Storage URI.
type media struct {
	BytesBase64Encoded string `json:"bytesBase64Encoded,omitempty"`
	GCSURI             string `json:"gcsUri,omitempty"`
	MimeType           string `json:"mimeType,omitempty"`
}

type instance struct {
	Prompt string `json:"prompt"`
	Image  *media `json:"image,omitempty"`
}

// parameters are the predictLongRunning parameters AIPROD sets.
// generateAudio is always sent: audio changes the price.
type parameters struct {
	DurationSeconds int    `json:"durationSeconds"`
	AspectRatio     string `json:"aspectRatio"`
	Resolution      string `json:"resolution"`
	GenerateAudio   bool   `json:"generateAudio"`
	SampleCount     int    `json:"sampleCount"`
	StorageURI      string `json:"storageUri"`
}

// predictRequest is the body of :predictLongRunning.
type predictRequest struct {
	Instances  []instance        `json:"instances"`
	Parameters parameters        `json:"parameters"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// invalid returns the Permanent error for a request Vertex would refuse.
func invalid(format string, args ...any) error { return modelspec.Invalid("veo", format, args...) }

// planRequest checks req against the model and builds the request body,
// writing outputs under storage/<job id>/<attempt>/. It makes no call.
func planRequest(req backend.SubmitRequest, storage string) (predictRequest, error) {
	m, err := modelspec.Lookup("veo", models, req.Model)
	if err == nil {
		err = m.Check("veo", req)
	}
	if err != nil {
		return predictRequest{}, err
	}
	inst := instance{Prompt: req.Prompt}
	if req.ImageURL != "" {
		img, err := imageMedia(req.ImageURL)
		if err != nil {
			return predictRequest{}, err
		}
		inst.Image = img
	}
	return predictRequest{
		Instances: []instance{inst},
		Parameters: parameters{
			DurationSeconds: req.DurationSeconds,
			AspectRatio:     string(req.AspectRatio),
			Resolution:      string(req.Resolution),
			GenerateAudio:   req.Audio,
			SampleCount:     1,
			StorageURI:      outputPrefix(storage, req.JobID, req.Attempt),
		},
		Labels: map[string]string{
			"aiprod_job_id":  labelValue(req.JobID),
			"aiprod_attempt": strconv.Itoa(req.Attempt),
		},
	}, nil
}

// imageMedia turns an image_url into Vertex media: a gs:// URI as gcsUri, a
// base64 data URI as inline bytes. Vertex fetches nothing over http(s), and
// the adapter does not download user URLs itself (that would let a request
// make the worker fetch internal addresses).
func imageMedia(u string) (*media, error) {
	if strings.HasPrefix(u, "gs://") {
		if len(u) <= len("gs://") || strings.HasPrefix(u[len("gs://"):], "/") {
			return nil, invalid("image_url %q has no bucket", providerhttp.Clip(u))
		}
		return &media{GCSURI: u, MimeType: mimeFromExt(u)}, nil
	}
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mime, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || !strings.HasPrefix(mime, "image/") {
			return nil, invalid("image_url data URI must be data:image/...;base64,...")
		}
		if _, err := base64.StdEncoding.DecodeString(data); err != nil {
			return nil, invalid("image_url data URI is not valid base64")
		}
		return &media{BytesBase64Encoded: data, MimeType: mime}, nil
	}
	return nil, invalid("image_url must be a gs:// URI or a base64 data URI: Vertex AI cannot fetch http(s) images")
}

func mimeFromExt(u string) string {
	switch strings.ToLower(path.Ext(u)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".webp":
		return "image/webp"
	}
	return "image/png"
}

// outputPrefix is where one attempt's videos go: <storage>/<job id>/<attempt>/.
// A per-attempt prefix lets a worker that lost a handle see, by listing it,
// whether that attempt produced a video.
func outputPrefix(storage, jobID string, attempt int) string {
	return fmt.Sprintf("%s/%s/%d/", strings.TrimRight(storage, "/"), pathSafe(jobID), attempt)
}

func pathSafe(s string) string {
	if s == "" {
		return "no-job"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// labelValue fits s to a Google Cloud label value: at most 63 lowercase
// letters, digits, underscores and dashes.
func labelValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}
