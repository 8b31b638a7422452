package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// APIKeyPrefix starts every generated API key, so that leaked keys are easy
// to recognise (secret scanners) and to tell from admin keys.
const APIKeyPrefix = "aiprod_"

// projectRE is the form of a project id, for error messages.
const projectRE = job.ProjectIDPattern

// projectParam returns the {project} of an admin route's path, or a 400
// naming it when it is not a project id.
func projectParam(r *http.Request) (string, error) {
	project := r.PathValue("project")
	if !ValidProjectID(project) {
		return "", invalid("project", "must match %s, got %q", projectRE, project)
	}
	return project, nil
}

// ValidProjectID reports whether s is a well-formed project id
// (job.ValidProjectID).
func ValidProjectID(s string) bool { return job.ValidProjectID(s) }

// NewAPIKey returns a fresh random API key: APIKeyPrefix and 32 random bytes
// in unpadded base64url.
func NewAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// CreatedKey is the body of POST /v1/admin/projects/{project}/keys. Key is
// shown this once; only its hash is stored. ID names the key afterwards
// (listing, revocation); ExpiresAt is null for a key that never expires.
type CreatedKey struct {
	ID        string     `json:"id"`
	ProjectID string     `json:"project_id"`
	Key       string     `json:"key"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// KeyView is one key of GET /v1/admin/projects/{project}/keys: never the key
// itself nor its hash. ID is the first store.KeyIDLen hex characters of the
// key's SHA-256 (store.APIKey.ID), Prefix its first characters
// (store.KeyPrefix); LastUsedAt is null for a key never used (it is updated
// at most once per LastUsedInterval) and ExpiresAt null for one that never
// expires.
type KeyView struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Revoked    bool       `json:"revoked"`
}

// KeyList is the body of GET /v1/admin/projects/{project}/keys.
type KeyList struct {
	Keys []KeyView `json:"keys"`
}

// MaxKeyLifetimeDays bounds expires_in_days (and expires_at) of a new key.
const MaxKeyLifetimeDays = 3650

// keyView is the public view of k.
func keyView(k store.APIKey) KeyView {
	return KeyView{ID: k.ID(), Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: optTime(k.LastUsedAt),
		ExpiresAt: optTime(k.ExpiresAt), Revoked: k.Revoked}
}

// optTime is nil for the zero time, else &t.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// createKeyBody is the optional body of POST .../keys: at most one of the
// two expiries.
type createKeyBody struct {
	ExpiresInDays *int    `json:"expires_in_days"`
	ExpiresAt     *string `json:"expires_at"`
}

// keyExpiry reads the optional body of POST .../keys and returns the new
// key's expiry (zero: never). Errors name the field.
func (s *Server) keyExpiry(w http.ResponseWriter, r *http.Request, now time.Time) (time.Time, error) {
	raw, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return time.Time{}, err
	}
	var body createKeyBody
	if err := decodeStrict(raw, &body); err != nil {
		return time.Time{}, err
	}
	limit := now.AddDate(0, 0, MaxKeyLifetimeDays)
	switch {
	case body.ExpiresInDays != nil && body.ExpiresAt != nil:
		return time.Time{}, invalid("expires_at", "give expires_in_days or expires_at, not both")
	case body.ExpiresInDays != nil:
		if n := *body.ExpiresInDays; n < 1 || n > MaxKeyLifetimeDays {
			return time.Time{}, invalid("expires_in_days", "must be 1..%d, got %d", MaxKeyLifetimeDays, n)
		}
		return now.AddDate(0, 0, *body.ExpiresInDays), nil
	case body.ExpiresAt != nil:
		at, err := time.Parse(time.RFC3339, *body.ExpiresAt)
		if err != nil {
			return time.Time{}, invalid("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z, got %q", *body.ExpiresAt)
		}
		if !at.After(now) || at.After(limit) {
			return time.Time{}, invalid("expires_at", "must be in the future and within %d days, got %s", MaxKeyLifetimeDays, *body.ExpiresAt)
		}
		return at, nil
	}
	return time.Time{}, nil
}

// adminProject returns the {project} of an admin key route, checked
// (projectParam), and records it for the access log.
func adminProject(r *http.Request) (string, error) {
	project, err := projectParam(r)
	if err != nil {
		return "", err
	}
	infoOf(r.Context()).project = project
	return project, nil
}

// createKey is POST /v1/admin/projects/{project}/keys, with an optional
// body {"expires_in_days": n} or {"expires_at": "RFC 3339"}.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	now := store.NormalizeTime(s.cfg.Now())
	expires, err := s.keyExpiry(w, r, now)
	if err != nil {
		return err
	}
	key := NewAPIKey()
	rec := store.APIKey{Hash: store.HashAPIKey(key), ProjectID: project, CreatedAt: now,
		Prefix: store.KeyPrefix(key), ExpiresAt: store.NormalizeTime(expires)}
	if err := s.runTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(rec) }); err != nil {
		return unexpected(err, "store API key")
	}
	s.refused.forget(rec.Hash) // usable at once here; other instances within RefusedKeyTTL
	// The id identifies the key in logs without revealing it.
	s.log.InfoContext(ctx, "API key created", slog.String("project_id", project), slog.String("key_id", rec.ID()))
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, CreatedKey{ID: rec.ID(), ProjectID: project, Key: key, Prefix: rec.Prefix,
		CreatedAt: rec.CreatedAt, ExpiresAt: optTime(rec.ExpiresAt)})
	return nil
}

// listKeys is GET /v1/admin/projects/{project}/keys: every key of the
// project, revoked and expired ones included, newest first.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	keys, err := s.cfg.Store.ListAPIKeys(r.Context(), project)
	if err != nil {
		return unexpected(err, "list API keys")
	}
	out := KeyList{Keys: make([]KeyView, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, keyView(k))
	}
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// revokeKey is DELETE /v1/admin/projects/{project}/keys/{key_id}: the key
// stops working at once on this instance and within ValidKeyTTL on the
// others (they keep a usable key's record that long), and answers 200
// with its view. A key id that is not the project's is a
// 404; revoking a revoked key again is a 200.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	id := r.PathValue("key_id")
	keys, err := s.cfg.Store.ListAPIKeys(ctx, project)
	if err != nil {
		return unexpected(err, "list API keys")
	}
	i := slices.IndexFunc(keys, func(k store.APIKey) bool { return k.ID() == id })
	if i < 0 || len(id) != store.KeyIDLen {
		return errclass.New(errclass.NotFound, "key %q not found in project %s", id, project)
	}
	var revoked store.APIKey
	err = s.runTx(ctx, func(tx store.Tx) error {
		k, err := tx.GetAPIKey(keys[i].Hash)
		if err != nil {
			return err
		}
		k.Revoked = true
		revoked = k
		return tx.PutAPIKey(k)
	})
	if err != nil {
		return unexpected(err, "revoke API key")
	}
	s.valid.forget(revoked.Hash) // refused from the next request here
	s.log.InfoContext(ctx, "API key revoked", slog.String("project_id", project), slog.String("key_id", id))
	s.writeJSON(w, r, http.StatusOK, keyView(revoked))
	return nil
}

// SeedAPIKey installs key as an API key of project unless it is stored
// already; it is idempotent, for the dev stack's well-known key. A key
// stored for another project is an errclass.Conflict error, and a revoked
// key stays revoked.
func SeedAPIKey(ctx context.Context, st store.Store, key, project string, now time.Time) error {
	if key == "" {
		return errclass.New(errclass.Permanent, "seed API key: key is empty")
	}
	if !ValidProjectID(project) {
		return errclass.New(errclass.Permanent, "seed API key: project %q must match %s", project, projectRE)
	}
	hash := store.HashAPIKey(key)
	existing, err := st.GetAPIKey(ctx, hash)
	switch {
	case err == nil && existing.ProjectID == project:
		return nil
	case err == nil:
		return errclass.New(errclass.Conflict, "seed API key: the key belongs to project %q, not %q", existing.ProjectID, project)
	case !errors.Is(err, errclass.NotFound):
		return fmt.Errorf("seed API key: %w", err)
	}
	rec := store.APIKey{Hash: hash, ProjectID: project, CreatedAt: store.NormalizeTime(now), Prefix: store.KeyPrefix(key)}
	if err := st.RunTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(rec) }); err != nil {
		return fmt.Errorf("seed API key: %w", err)
	}
	return nil
}
