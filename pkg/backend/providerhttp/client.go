package providerhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// MaxBodyDefault is how much of an answer a Client reads when MaxBody is 0.
const MaxBodyDefault = 1 << 20

// Credential puts a caller's credential on a request.
type Credential interface {
	// Apply sets the credential's headers on r and returns the secret text
	// that must never appear in an error. An error is a failure to obtain
	// the credential (Client.Do reports it as Retryable).
	Apply(r *http.Request) (secret string, err error)
}

// StaticKey is a fixed API key sent as "Authorization: <Scheme> <Key>".
type StaticKey struct {
	Scheme string // "Bearer", "Key", ...
	Key    string
}

// Apply sets the Authorization header.
func (k StaticKey) Apply(r *http.Request) (string, error) {
	r.Header.Set("Authorization", k.Scheme+" "+k.Key)
	return k.Key, nil
}

// Client sends one provider's API calls and classifies what goes wrong.
// Set its fields before the first call and do not change them after; it is
// then safe for concurrent use. Every error it returns is an errclass
// error whose text starts with "<Provider>: <op>".
type Client struct {
	// Provider names the provider at the start of every error text.
	Provider string
	// HTTP sends the requests. Required.
	HTTP *http.Client
	// Credential authorizes every request. Required.
	Credential Credential
	// Header is sent with every request (such as an API version).
	Header http.Header
	// MaxBody is the most bytes of an answer read (MaxBodyDefault when 0);
	// a longer answer is an error of class OverLimit.
	MaxBody int
	// OverLimit is the class of an answer over MaxBody (Retryable when nil)
	// and OverLimitHint what its text adds.
	OverLimit     error
	OverLimitHint string
	// AuthHint is what the text of a 401 or 403 error adds, such as "the
	// API key was refused; check RUNWAYML_API_SECRET".
	AuthHint string
	// Problem reads the provider's error body for Error; nil quotes the
	// body as it is.
	Problem func(*Response) Problem
	// Now reads the clock for Retry-After dates; time.Now when nil.
	Now func() time.Time
	// Tracer starts the CLIENT span of every call; telemetry.Tracer()
	// when nil.
	Tracer trace.Tracer
}

// Request is one API call.
type Request struct {
	Method string
	URL    string      // absolute
	Op     string      // what the call does, for error text: "get task 123"
	Body   any         // sent as JSON when not nil
	Header http.Header // sent besides Client.Header
}

// Response is an answer read in full (up to Client.MaxBody).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	secret string // the credential the call used, kept out of error text
}

// Redact returns s without the credential the call used: for text read
// from the answer that does not go through Client.Error.
func (r *Response) Redact(s string) string { return RedactText(s, r.secret) }

// OK reports whether the status is 2xx.
func (r *Response) OK() bool { return r.Status/100 == 2 }

// Do sends req with the credential and reads the answer. Any answer,
// whatever its status, is a Response; the error is for calls that got none:
// an unencodable body or unbuildable request (Permanent), a credential that
// could not be had, a transport failure, an unreadable or oversized answer
// (Retryable, or OverLimit). Errors keep their cause, so errors.Is finds
// context.Canceled; their text never holds the credential.
func (c *Client) Do(ctx context.Context, req Request) (res *Response, err error) {
	ctx, span := telemetry.StartHTTPClient(ctx, c.Tracer, "HTTP "+req.Method+" "+c.Provider, req.Method, req.URL,
		attribute.String("aiprod.provider", c.Provider), attribute.String("aiprod.operation", req.Op))
	defer func() {
		status := 0
		if res != nil {
			status = res.Status
		}
		telemetry.EndHTTPClient(span, status, err)
	}()
	return c.do(ctx, req)
}

func (c *Client) do(ctx context.Context, req Request) (*Response, error) {
	var rd io.Reader
	if req.Body != nil {
		buf, err := json.Marshal(req.Body)
		if err != nil {
			return nil, errclass.Wrap(errclass.Permanent, err, c.prefix(req.Op)+": encode request")
		}
		rd = bytes.NewReader(buf)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, rd)
	if err != nil {
		return nil, errclass.Wrap(errclass.Permanent, err, c.prefix(req.Op)+": build request")
	}
	for _, h := range []http.Header{c.Header, req.Header} {
		for k, v := range h {
			hr.Header[k] = v
		}
	}
	hr.Header.Set("Accept", "application/json")
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	secret, err := c.Credential.Apply(hr)
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, err, c.prefix(req.Op))
	}
	res, err := c.HTTP.Do(hr)
	if err != nil {
		return nil, &errclass.Error{Class: errclass.Retryable, Msg: c.prefix(req.Op), Err: Redact(err, secret),
			NotAccepted: errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer res.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = MaxBodyDefault
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, int64(limit)+1))
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, Redact(err, secret), fmt.Sprintf("%s: HTTP %d, reading body", c.prefix(req.Op), res.StatusCode))
	}
	if len(data) > limit {
		class := c.OverLimit
		if class == nil {
			class = errclass.Retryable
		}
		return nil, errclass.New(class, "%s: HTTP %d with a body over %d bytes%s", c.prefix(req.Op), res.StatusCode, limit, c.OverLimitHint)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: data, secret: secret}, nil
}

// Call sends req and decodes the answer's JSON body into v (unless v is
// nil). An answer whose status is not one of want (any 2xx when want is
// empty) is the error Error makes of it; a body that does not decode is
// DecodeJSON's Retryable error naming what ("task body", "body (the task
// may exist)"). The Response is returned with any answer, error or not.
func (c *Client) Call(ctx context.Context, req Request, v any, what string, want ...int) (*Response, error) {
	r, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if (len(want) == 0 && !r.OK()) || (len(want) > 0 && !slices.Contains(want, r.Status)) {
		return r, c.Error(req.Op, r)
	}
	if v != nil {
		return r, c.DecodeJSON(req.Op, r, v, what)
	}
	return r, nil
}

// Cancel sends req, which stops or deletes a generation, and returns nil
// for an answer that says it is done: a 2xx, a 404 (the generation is gone
// already) or one that done, when not nil, accepts (fal's 400
// ALREADY_COMPLETED). Any other answer is the error Error makes of it.
func (c *Client) Cancel(ctx context.Context, req Request, done func(*Response) bool) error {
	r, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if r.OK() || r.Status == http.StatusNotFound || (done != nil && done(r)) {
		return nil
	}
	return c.Error(req.Op, r)
}

// Errorf returns an error of class whose text is "<Provider>: <op>: "
// followed by the formatted message.
func (c *Client) Errorf(class error, op, format string, args ...any) error {
	return errclass.New(class, "%s: %s", c.prefix(op), fmt.Sprintf(format, args...))
}

// DecodeJSON decodes the body of r into v. A body that does not decode is
// a Retryable error: "<Provider>: <op>: HTTP <status> with an unreadable
// <what>", what naming the body and, for a submission, that the generation
// may exist ("body (the task may exist)").
func (c *Client) DecodeJSON(op string, r *Response, v any, what string) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return errclass.Wrap(errclass.Retryable, err, fmt.Sprintf("%s: HTTP %d with an unreadable %s", c.prefix(op), r.Status, what))
	}
	return nil
}

func (c *Client) prefix(op string) string { return c.Provider + ": " + op }
