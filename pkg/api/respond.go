package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// contentTypeJSON is the Content-Type of every response body.
const contentTypeJSON = "application/json"

// writeJSON writes v as the JSON body of a status response.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here: every response type marshals.
		s.log.ErrorContext(r.Context(), "encode response", slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "internal error"}})
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with err as an error body (see errorResponse) and logs
// it: 5xx at error level with the cause, 4xx at debug level.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := errorResponse(err)
	ctx := r.Context()
	if status >= 500 {
		s.log.ErrorContext(ctx, "request failed",
			slog.String("route", routeOf(r)), slog.Int("status", status), slog.String("error", err.Error()))
	} else {
		s.log.DebugContext(ctx, "request rejected",
			slog.String("route", routeOf(r)), slog.Int("status", status), slog.String("code", detail.Code), slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiprod"`)
	}
	if d, ok := retryAfter(err); ok && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(d)))
	}
	s.writeJSON(w, r, status, ErrorBody{Error: detail})
}

// retryAfter returns the wait that err asks the client for: an httpError's
// own, or an errclass Retry-After hint.
func retryAfter(err error) (time.Duration, bool) {
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		return he.retryAfter, true
	}
	return errclass.RetryAfter(err)
}

// readBody reads the whole request body up to the configured limit. A body
// over the limit is an *http.MaxBytesError (413).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, invalid("", "could not read the request body: %v", err)
	}
	return b, nil
}

// readJSON reads the request body (readBody) and decodes it strictly
// (decodeStrict) into a T.
func readJSON[T any](s *Server, w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	b, err := s.readBody(w, r)
	if err != nil {
		return v, err
	}
	return v, decodeStrict(b, &v)
}

// decodeStrict decodes a small JSON object body into v: unknown fields and
// trailing data are 400s naming the field when it is known.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return invalid(typeErr.Field, "must be of type %s", typeErr.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return invalid(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		case errors.Is(err, io.EOF):
			return invalid("", "body is empty; want a JSON object")
		default:
			return invalid("", "malformed JSON: %v", err)
		}
	}
	if dec.More() {
		return invalid("", "body must hold a single JSON object")
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		return invalid("", "body must hold a single JSON object")
	}
	return nil
}
