package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// Error codes of the HTTP API: the "code" of an error response.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeRequestTooLarge  = "request_too_large"
	CodeUnauthenticated  = "unauthenticated"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeBudgetExceeded   = "budget_exceeded"
	CodeContentRejected  = "content_rejected"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// ErrorBody is the JSON body of every error response:
// {"error":{"code":"...","message":"...","field":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody. Field names the request field at
// fault (a JSON field, a query parameter or a header) and is omitted when
// the request as a whole is at fault.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// httpError is an error that knows its exact response. Handlers use it for
// the answers that no error class describes (413, 405, 429). A positive
// retryAfter is sent as the Retry-After header.
type httpError struct {
	status     int
	retryAfter time.Duration
	ErrorDetail
}

func (e *httpError) Error() string { return e.Message }

// invalid returns a 400 invalid_request error naming field. It is a
// *job.FieldError, so it is classified errclass.Permanent like the request
// validation errors.
func invalid(field, format string, args ...any) error {
	return &job.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// errorResponse is the one place where errors become HTTP answers: the
// status (errclass.HTTPStatus for classified errors), the code and the
// message. Messages of 5xx answers are generic, since their errors may hold
// internal detail; the caller logs the error itself.
func errorResponse(err error) (int, ErrorDetail) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.ErrorDetail
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, ErrorDetail{
			Code:    CodeRequestTooLarge,
			Message: "request body exceeds " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes",
		}
	}
	var fe *job.FieldError
	if errors.As(err, &fe) {
		return http.StatusBadRequest, ErrorDetail{Code: CodeInvalidRequest, Message: fe.Error(), Field: fe.Field}
	}
	status := errclass.HTTPStatus(err)
	d := ErrorDetail{Code: classCode(errclass.Of(err)), Message: err.Error()}
	switch {
	case status == http.StatusServiceUnavailable:
		d.Message = "the service is temporarily unavailable; retry later"
	case status >= 500:
		d.Message = "internal error"
	}
	return status, d
}

// classCode names an error class (errclass.Of) as an API error code.
func classCode(class error) string {
	switch class {
	case errclass.Permanent:
		return CodeInvalidRequest
	case errclass.NotFound:
		return CodeNotFound
	case errclass.Conflict:
		return CodeConflict
	case errclass.Unauthenticated:
		return CodeUnauthenticated
	case errclass.Budget:
		return CodeBudgetExceeded
	case errclass.ContentSafety:
		return CodeContentRejected
	case errclass.Retryable:
		return CodeUnavailable
	default:
		return CodeInternal
	}
}

// unexpected turns an error of the store or the queue that the handler does
// not expect into a 503 when it is transient (or unclassified) and a 500
// otherwise. It flattens the cause into the message, so that the class of
// the cause (say, Permanent for a closed store) never reads as the client's
// fault.
func unexpected(err error, what string) error {
	if errclass.IsRetryable(err) {
		return errclass.New(errclass.Retryable, "%s: %v", what, err)
	}
	return fmt.Errorf("%s: %v", what, err) //nolint:errorlint // deliberately unclassified: a 500
}
