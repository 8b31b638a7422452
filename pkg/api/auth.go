package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// LastUsedInterval is how stale an API key's last_used_at may get: it is
// written at most once per interval per key, not on every request.
const LastUsedInterval = time.Minute

// withProject authenticates the request's API key, applies the key's rate
// limit and passes its project to h. A usable key's record is kept in
// memory for ValidKeyTTL (authenticate), so a key revoked on another
// instance gets 401 here within ValidKeyTTL, and refusals for
// RefusedKeyTTL. The key never reaches a log.
func (s *Server) withProject(h projectHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := bearer(r)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		rec, err := s.authenticate(r.Context(), store.HashAPIKey(key), now)
		if err != nil {
			return err
		}
		infoOf(r.Context()).project = rec.ProjectID
		if s.limiter != nil {
			if wait, ok := s.limiter.allow(rec.Hash, now); !ok {
				return rateLimited(wait, s.cfg.RateLimit)
			}
		}
		if now.Sub(rec.LastUsedAt) >= LastUsedInterval {
			s.touchKey(r.Context(), rec.Hash, now)
			rec.LastUsedAt = now // tried: not again from this instance within the interval
			s.valid.update(rec.Hash, rec)
		}
		return h(w, r, rec.ProjectID)
	}
}

// authenticate returns the usable API key whose hash is hash: from memory
// when read less than ValidKeyTTL ago (its expiry checked now: an expired
// key is refused without a read), else from the store. An unknown, revoked or expired key is errUnauthenticated, and
// is remembered as such for RefusedKeyTTL: a client repeating a key, good
// or bad, costs one store read per TTL, not one per request.
func (s *Server) authenticate(ctx context.Context, hash string, now time.Time) (store.APIKey, error) {
	rec, cached := s.valid.get(hash, now)
	if !cached {
		if _, ok := s.refused.get(hash, now); ok {
			return store.APIKey{}, errUnauthenticated
		}
		var err error
		rec, err = s.cfg.Store.GetAPIKey(ctx, hash)
		switch {
		case errors.Is(err, errclass.NotFound):
			s.refused.add(hash, struct{}{}, now)
			return store.APIKey{}, errUnauthenticated
		case err != nil:
			return store.APIKey{}, unexpected(err, "look up API key")
		}
	}
	if !rec.Usable(now) { // revoked or expired, which nothing undoes
		s.valid.forget(hash)
		s.refused.add(hash, struct{}{}, now)
		return store.APIKey{}, errUnauthenticated
	}
	if !cached {
		s.valid.add(hash, rec, now)
	}
	return rec, nil
}

// touchKey sets the key's last_used_at to now unless another request (on
// any instance) did so less than LastUsedInterval ago. It is best effort:
// one attempt, and a failure is logged, never the request's.
func (s *Server) touchKey(ctx context.Context, hash string, now time.Time) {
	err := s.cfg.Store.RunTx(ctx, func(tx store.Tx) error {
		k, err := tx.GetAPIKey(hash)
		if err != nil || now.Sub(k.LastUsedAt) < LastUsedInterval {
			return err
		}
		k.LastUsedAt = store.NormalizeTime(now)
		return tx.PutAPIKey(k)
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not record the API key's last use", slog.String("key_id", hash[:store.KeyIDLen]),
			slog.String("error", err.Error()))
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
