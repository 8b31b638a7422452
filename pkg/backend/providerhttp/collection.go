package providerhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/errclass"
)

// Collection is where a provider keeps the generations it names by an id
// (Runway's tasks, Luma's generations, Replicate's predictions): each one
// at <URL>/<id>, read with GET as a JSON object that decodes into a T. The
// adapter's backend.Handle is the id itself, so any worker instance can
// poll or cancel any generation. Set the fields once; a Collection is then
// safe for concurrent use.
type Collection[T any] struct {
	// API sends the calls. Required.
	API *Client
	// URL is the collection's address without a trailing slash, such as
	// "https://api.dev.runwayml.com/v1/tasks".
	URL string
	// Noun is what the provider calls one generation ("task"), in the
	// texts of ops and errors.
	Noun string
	// Status reads an item into what Poll returns; op names the read for
	// error texts.
	Status func(item T, op string) (backend.Status, error)
	// Stop is the call Cancel makes.
	Stop Stop
	// Unknown, when set, is added in parentheses to the NotFound error of a
	// Poll: what it means there that the provider does not know the id
	// (Luma, whose Cancel deletes: "deleted or never created").
	Unknown string
}

// Stop is how a provider stops a generation: Method at <URL>/<id><Suffix>,
// named "<Verb> <noun> <id>" in error texts ("delete generation 123").
type Stop struct {
	Method string
	Suffix string
	Verb   string
}

// ID returns the id h holds (PathSegment), or a Permanent error for a
// handle that is not one.
func (c Collection[T]) ID(h backend.Handle) (string, error) {
	return PathSegment(c.API.Provider, string(h), "a "+c.Noun+" id")
}

// Create sends req, which creates a generation and answers with an object
// whose "id" names it, and returns that id as the handle. Providers take no
// idempotency key, so an answer that does not decode, or has no usable id,
// may hide a created (billed) generation: that error is Retryable and says
// "(the <noun> may exist)". Other errors are Client.Call's.
func (c Collection[T]) Create(ctx context.Context, req Request) (backend.Handle, error) {
	unsure := "(the " + c.Noun + " may exist)"
	var created struct {
		ID string `json:"id"`
	}
	r, err := c.API.Call(ctx, req, &created, "body "+unsure)
	if err != nil {
		return "", err
	}
	if _, err := c.ID(backend.Handle(created.ID)); err != nil {
		return "", c.API.Errorf(errclass.Retryable, req.Op, "HTTP %d without a usable %s id %s", r.Status, c.Noun, unsure)
	}
	return backend.Handle(created.ID), nil
}

// Poll reads the generation h names (GET <URL>/<id>, where only a 200 is
// an answer) and returns what Status makes of it, with op "get <noun>
// <id>". A malformed handle is a Permanent error, an id the provider does
// not know a NotFound one (Client.Error, with Unknown).
func (c Collection[T]) Poll(ctx context.Context, h backend.Handle) (backend.Status, error) {
	id, err := c.ID(h)
	if err != nil {
		return backend.Status{}, err
	}
	op := "get " + c.Noun + " " + id
	var item T
	req := Request{Method: http.MethodGet, URL: c.URL + "/" + url.PathEscape(id), Op: op}
	if r, err := c.API.Call(ctx, req, &item, c.Noun+" body", http.StatusOK); err != nil {
		if c.Unknown != "" && r != nil && r.Status == http.StatusNotFound {
			err = fmt.Errorf("%w (%s)", err, c.Unknown)
		}
		return backend.Status{}, err
	}
	return c.Status(item, op)
}

// Cancel makes the Stop call for the generation h names, through
// Client.Cancel: a generation the provider no longer knows is not an error.
func (c Collection[T]) Cancel(ctx context.Context, h backend.Handle) error {
	id, err := c.ID(h)
	if err != nil {
		return err
	}
	return c.API.Cancel(ctx, Request{
		Method: c.Stop.Method, URL: c.URL + "/" + url.PathEscape(id) + c.Stop.Suffix, Op: c.Stop.Verb + " " + c.Noun + " " + id,
	}, nil)
}
