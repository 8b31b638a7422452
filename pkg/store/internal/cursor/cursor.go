// Package cursor is the page token of store.ListJobs, shared by the store
// implementations so that every one of them reads the same opaque format.
//
// A token names the last job of a page by its creation time (Unix
// microseconds, the precision the store keeps) and its id; the next page
// starts strictly after it in the order created_at desc, id desc.
package cursor

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
)

const version = "v1"

// Cursor is the position after which the next page starts.
type Cursor struct {
	CreatedAt time.Time // microsecond precision, UTC
	ID        string
}

// Encode returns the opaque token of c.
func Encode(c Cursor) string {
	raw := version + ":" + strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Decode parses a token made by Encode. A malformed token is an
// errclass.Permanent error.
func Decode(token string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return Cursor{}, errclass.New(errclass.Permanent, "malformed page token: %s", why)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return bad("not base64url")
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != version {
		return bad("unknown format")
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return bad("bad time")
	}
	if parts[2] == "" {
		return bad("empty id")
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: parts[2]}, nil
}
