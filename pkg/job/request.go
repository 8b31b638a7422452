package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
)

// Tier is a quality tier. Tiers are ordered: a backend offering a higher
// tier meets a request for a lower one.
type Tier string

// The quality tiers, lowest first.
const (
	TierDraft    Tier = "draft"
	TierStandard Tier = "standard"
	TierPremium  Tier = "premium"
)

// Rank orders tiers: draft 1, standard 2, premium 3, unknown 0.
func (t Tier) Rank() int {
	switch t {
	case TierDraft:
		return 1
	case TierStandard:
		return 2
	case TierPremium:
		return 3
	}
	return 0
}

// Resolution is an output resolution.
type Resolution string

// The resolutions, lowest first.
const (
	Res540p  Resolution = "540p"
	Res720p  Resolution = "720p"
	Res1080p Resolution = "1080p"
	Res4K    Resolution = "4k"
)

// AspectRatio is an output aspect ratio.
type AspectRatio string

// The aspect ratios.
const (
	Aspect16x9 AspectRatio = "16:9"
	Aspect9x16 AspectRatio = "9:16"
	Aspect1x1  AspectRatio = "1:1"
)

// Request limits and defaults.
const (
	MaxPromptChars       = 4000
	MinDurationSeconds   = 1
	MaxDurationSeconds   = 60
	MaxBackends          = 16
	MaxUserIDChars       = 128
	MaxMetadataKeys      = 32
	MaxMetadataKeyChars  = 64
	MaxMetadataValueSize = 512
	MaxURLChars          = 2048
	// MaxDataURIBytes bounds an image given inline as a data: URI: the job
	// is stored as one Firestore document, which holds at most 1 MiB.
	MaxDataURIBytes = 512 << 10
	// MinDeadlineSeconds and MaxDeadlineSeconds bound deadline_seconds: a
	// minute to a day.
	MinDeadlineSeconds = 60
	MaxDeadlineSeconds = 86400

	DefaultResolution  = Res720p
	DefaultAspectRatio = Aspect16x9
	DefaultTier        = TierStandard
)

// Request is what a user asks for: the body of POST /v1/jobs and the data of
// a message published straight to aiprod-jobs.
type Request struct {
	Prompt          string        `json:"prompt"`
	DurationSeconds int           `json:"duration_seconds"`
	Resolution      Resolution    `json:"resolution"`
	AspectRatio     AspectRatio   `json:"aspect_ratio"`
	QualityTier     Tier          `json:"quality_tier"`
	ImageURL        string        `json:"image_url,omitempty"`
	Audio           bool          `json:"audio"`
	MaxCostUSD      *money.Micros `json:"max_cost_usd,omitempty"`
	Backends        []string      `json:"backends,omitempty"`
	UserID          string        `json:"user_id,omitempty"`
	WebhookURL      string        `json:"webhook_url,omitempty"`
	// DeadlineSeconds, when set, is how soon after acceptance the caller
	// wants the video (MinDeadlineSeconds..MaxDeadlineSeconds): routing
	// then skips backends that would miss it (package routing,
	// "Deadlines"). Nil: the tier's default deadline applies there.
	DeadlineSeconds *int              `json:"deadline_seconds,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// FieldError is a validation error naming the JSON field at fault.
// It is classified errclass.Permanent.
type FieldError struct {
	Field   string // JSON field name; "" when the body as a whole is at fault
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap classifies every FieldError as Permanent.
func (e *FieldError) Unwrap() error { return errclass.Permanent }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// DecodeRequest reads one JSON request from r strictly, applies defaults and
// validates it. Errors are *FieldError.
func DecodeRequest(r io.Reader) (Request, error) {
	return decodeRequest(r, func(dec *json.Decoder) bool {
		if dec.More() {
			return true
		}
		rest, _ := io.ReadAll(dec.Buffered())
		return len(bytes.TrimSpace(rest)) > 0
	})
}

// ParseRequest is DecodeRequest over a byte slice.
func ParseRequest(b []byte) (Request, error) {
	return decodeRequest(bytes.NewReader(b), func(dec *json.Decoder) bool { return !BlankAfter(dec, b) })
}

// decodeRequest is DecodeRequest, trailing reporting whether the decoder
// has more than whitespace after the object.
func decodeRequest(r io.Reader, trailing func(dec *json.Decoder) bool) (Request, error) {
	var req Request
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, decodeError(err)
	}
	// Trailing garbage after the object (other than whitespace) is malformed.
	if trailing(dec) {
		return Request{}, fieldErr("", "body must hold a single JSON object")
	}
	req.ApplyDefaults()
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// BlankAfter reports whether b, which dec decodes, holds only JSON
// whitespace after what dec decoded so far: what dec.More() and a look at
// the rest tell, without reading the rest into a new buffer.
func BlankAfter(dec *json.Decoder, b []byte) bool {
	for _, c := range b[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func decodeError(err error) *FieldError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fieldErr("", "body must be a JSON object")
		}
		return fieldErr(field, "must be of type %s, got JSON %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fieldErr("", "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF):
		return fieldErr("", "body is empty; want a JSON job request")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("", "malformed JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldErr(name, "unknown field")
	default:
		var fe *FieldError
		if errors.As(err, &fe) {
			return fe
		}
		// Errors from nested UnmarshalJSON (money) land here.
		if strings.Contains(err.Error(), "money:") {
			return fieldErr("max_cost_usd", "must be a USD amount with at most 6 decimals")
		}
		return fieldErr("", "malformed JSON: %v", err)
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "integer"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return kind
}

// ApplyDefaults fills the optional fields that have defaults.
func (r *Request) ApplyDefaults() {
	if r.Resolution == "" {
		r.Resolution = DefaultResolution
	}
	if r.AspectRatio == "" {
		r.AspectRatio = DefaultAspectRatio
	}
	if r.QualityTier == "" {
		r.QualityTier = DefaultTier
	}
}

// Validate checks every rule of the HTTP API on a request whose defaults are
// applied. It returns the first *FieldError in field order.
func (r *Request) Validate() error {
	n := utf8.RuneCountInString(r.Prompt)
	switch {
	case strings.TrimSpace(r.Prompt) == "":
		return fieldErr("prompt", "is required")
	case !utf8.ValidString(r.Prompt):
		return fieldErr("prompt", "must be valid UTF-8")
	case n > MaxPromptChars:
		return fieldErr("prompt", "must be at most %d characters, got %d", MaxPromptChars, n)
	}
	if r.DurationSeconds == 0 {
		return fieldErr("duration_seconds", "is required: a whole number of seconds from %d to %d", MinDurationSeconds, MaxDurationSeconds)
	}
	if r.DurationSeconds < MinDurationSeconds || r.DurationSeconds > MaxDurationSeconds {
		return fieldErr("duration_seconds", "must be from %d to %d, got %d", MinDurationSeconds, MaxDurationSeconds, r.DurationSeconds)
	}
	switch r.Resolution {
	case Res540p, Res720p, Res1080p, Res4K:
	default:
		return fieldErr("resolution", "must be one of 540p, 720p, 1080p, 4k; got %q", r.Resolution)
	}
	switch r.AspectRatio {
	case Aspect16x9, Aspect9x16, Aspect1x1:
	default:
		return fieldErr("aspect_ratio", "must be one of 16:9, 9:16, 1:1; got %q", r.AspectRatio)
	}
	if r.QualityTier.Rank() == 0 {
		return fieldErr("quality_tier", "must be one of draft, standard, premium; got %q", r.QualityTier)
	}
	if r.ImageURL != "" {
		if err := checkURL(r.ImageURL, true); err != "" {
			return fieldErr("image_url", "%s", err)
		}
	}
	if r.MaxCostUSD != nil && *r.MaxCostUSD <= 0 {
		return fieldErr("max_cost_usd", "must be greater than 0")
	}
	if len(r.Backends) > MaxBackends {
		return fieldErr("backends", "must list at most %d backends", MaxBackends)
	}
	seen := map[string]bool{}
	for _, b := range r.Backends {
		if b == "" || len(b) > 64 {
			return fieldErr("backends", "holds an empty or over-long backend name")
		}
		if seen[b] {
			return fieldErr("backends", "lists %q twice", b)
		}
		seen[b] = true
	}
	if utf8.RuneCountInString(r.UserID) > MaxUserIDChars {
		return fieldErr("user_id", "must be at most %d characters", MaxUserIDChars)
	}
	if r.WebhookURL != "" {
		if err := checkURL(r.WebhookURL, false); err != "" {
			return fieldErr("webhook_url", "%s", err)
		}
	}
	if d := r.DeadlineSeconds; d != nil && (*d < MinDeadlineSeconds || *d > MaxDeadlineSeconds) {
		return fieldErr("deadline_seconds", "must be from %d to %d seconds, got %d", MinDeadlineSeconds, MaxDeadlineSeconds, *d)
	}
	if len(r.Metadata) > MaxMetadataKeys {
		return fieldErr("metadata", "must hold at most %d keys", MaxMetadataKeys)
	}
	for k, v := range r.Metadata {
		if k == "" || len(k) > MaxMetadataKeyChars {
			return fieldErr("metadata", "keys must be 1 to %d bytes", MaxMetadataKeyChars)
		}
		if len(v) > MaxMetadataValueSize {
			return fieldErr("metadata", "value of %q must be at most %d bytes", k, MaxMetadataValueSize)
		}
	}
	return nil
}

// checkURL returns "" for an acceptable absolute http(s) URL (or, when
// allowData, a data: URI), else why not.
func checkURL(s string, allowData bool) string {
	if allowData && strings.HasPrefix(s, "data:") {
		if len(s) > MaxDataURIBytes {
			return fmt.Sprintf("data URI must be at most %d KiB; put larger images at an https or gs URL", MaxDataURIBytes>>10)
		}
		return ""
	}
	if len(s) > MaxURLChars {
		return fmt.Sprintf("must be at most %d characters", MaxURLChars)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

// ImageToVideo reports whether the request starts from an image.
func (r *Request) ImageToVideo() bool { return r.ImageURL != "" }
