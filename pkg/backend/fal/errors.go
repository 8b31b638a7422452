package fal

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/backend/providerhttp"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// typeContentPolicy is fal's error type for a content checker's rejection
// (https://fal.ai/docs/errors#content_policy_violation).
const typeContentPolicy = "content_policy_violation"

// detail is what fal says about a failure. Model errors have the body
// {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}; queue and
// platform errors {"detail": "..."}; failed requests may add "error_type"
// (also in the X-Fal-Error-Type header).
type detail struct {
	present bool     // the body had a detail, error or error_type field
	message string   // human text, clipped
	types   []string // machine types: detail[].type and error_type
}

func (d detail) hasType(t string) bool {
	for _, x := range d.types {
		if x == t {
			return true
		}
	}
	return false
}

func parseDetail(body []byte, header http.Header) detail {
	var raw struct {
		Detail    json.RawMessage `json:"detail"`
		Error     json.RawMessage `json:"error"`
		ErrorType string          `json:"error_type"`
		Status    string          `json:"status"`
	}
	var d detail
	if header != nil {
		if t := header.Get("X-Fal-Error-Type"); t != "" {
			d.present = true
			d.types = append(d.types, t)
		}
	}
	if json.Unmarshal(body, &raw) != nil {
		if s := strings.TrimSpace(string(body)); s != "" {
			d.message = providerhttp.Clip(s)
		}
		return d
	}
	if raw.ErrorType != "" {
		d.present = true
		d.types = append(d.types, raw.ErrorType)
	}
	var msgs []string
	for _, r := range []json.RawMessage{raw.Detail, raw.Error} {
		if len(r) == 0 || string(r) == "null" {
			continue
		}
		d.present = true
		m, types, ok := providerhttp.FieldMessages(r)
		if !ok {
			m = []string{string(r)}
		}
		msgs = append(msgs, m...)
		d.types = append(d.types, types...)
	}
	if len(msgs) == 0 && raw.Status != "" {
		msgs = append(msgs, raw.Status)
	}
	d.message = providerhttp.Clip(strings.Join(msgs, "; "))
	return d
}

// problem reads fal's error answer (see detail): a content_policy_violation
// is ContentSafety, whatever the status.
func problem(r *providerhttp.Response) providerhttp.Problem {
	d := parseDetail(r.Body, r.Header)
	p := providerhttp.Problem{Message: d.message}
	if d.hasType(typeContentPolicy) {
		p.Class = errclass.ContentSafety
	}
	return p
}

// failureClass classifies a generation that fal finished with an error,
// from its error types and the HTTP status of its result:
//
//   - content_policy_violation anywhere: ContentSafety (no failover);
//   - a result status of 5xx, or an infrastructure error type (timeouts,
//     runner_*, internal and downstream errors): Retryable — fal does not
//     bill these;
//   - any other 4xx result (validation, unreadable image, ...): Permanent;
//   - nothing known: Retryable.
func failureClass(types []string, status int) error {
	types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "" })
	for _, t := range types {
		if t == typeContentPolicy {
			return errclass.ContentSafety
		}
	}
	if status >= 500 {
		return errclass.Retryable
	}
	for _, t := range types {
		if transientType(t) {
			return errclass.Retryable
		}
	}
	if status >= 400 && status != http.StatusTooManyRequests {
		return errclass.Permanent
	}
	if len(types) > 0 {
		return errclass.Permanent
	}
	return errclass.Retryable
}

// transientType reports whether a fal error type names an infrastructure
// failure (https://fal.ai/docs/documentation/model-apis/request-errors and
// https://fal.ai/docs/errors: request_timeout, startup_timeout,
// runner_disconnected, runner_server_error, internal_server_error,
// generation_timeout, downstream_service_error, ...).
func transientType(t string) bool {
	t = strings.ToLower(t)
	for _, s := range []string{"timeout", "runner_", "internal", "downstream", "unavailable", "no_media_generated"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// canceledType reports whether a completed request's error type says it was
// canceled. fal does not document the status of a canceled request; a type
// mentioning cancellation is read as such.
func canceledType(t string) bool { return strings.Contains(strings.ToLower(t), "cancel") }

func orEmpty(s string) string {
	if s == "" {
		return "(empty body)"
	}
	return s
}
