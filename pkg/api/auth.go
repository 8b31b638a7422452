package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// projectHandlerFunc is a handler of an authenticated project's request.
type projectHandlerFunc func(w http.ResponseWriter, r *http.Request, project string) error

// errUnauthenticated is the answer to a wrong, unknown or revoked key; the
// message never says which, nor repeats the key.
var errUnauthenticated = errclass.New(errclass.Unauthenticated, "invalid API key")

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errclass.New(errclass.Unauthenticated, "missing API key: send the header Authorization: Bearer <key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errclass.New(errclass.Unauthenticated, "malformed Authorization header: want Bearer <key>")
	}
	return token, nil
}

// withProject authenticates the request's API key and passes its project
// to h. The key is looked up by its hash; it never reaches a log.
func (s *Server) withProject(h projectHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := bearer(r)
		if err != nil {
			return err
		}
		rec, err := s.cfg.Store.GetAPIKey(r.Context(), store.HashAPIKey(key))
		switch {
		case errors.Is(err, errclass.NotFound):
			return errUnauthenticated
		case err != nil:
			return unexpected(err, "look up API key")
		case rec.Revoked || rec.ProjectID == "":
			return errUnauthenticated
		}
		infoOf(r.Context()).project = rec.ProjectID
		return h(w, r, rec.ProjectID)
	}
}

// withAdmin lets through only requests bearing Config.AdminKey. With no
// admin key configured every admin request is refused.
func (s *Server) withAdmin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token, err := bearer(r)
		if err != nil {
			return err
		}
		if s.cfg.AdminKey == "" || !equalSecret(token, s.cfg.AdminKey) {
			return errclass.New(errclass.Unauthenticated, "invalid admin key")
		}
		return h(w, r)
	}
}

// equalSecret compares two secrets in time independent of their contents
// and lengths.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
