package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
// shown this once; only its hash is stored.
type CreatedKey struct {
	ProjectID string    `json:"project_id"`
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
}

// createKey is POST /v1/admin/projects/{project}/keys.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, err := projectParam(r)
	if err != nil {
		return err
	}
	key := NewAPIKey()
	rec := store.APIKey{Hash: store.HashAPIKey(key), ProjectID: project, CreatedAt: store.NormalizeTime(s.cfg.Now())}
	if err := s.runTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(rec) }); err != nil {
		return unexpected(err, "store API key")
	}
	infoOf(ctx).project = project
	// The hash's prefix identifies the key in logs without revealing it.
	s.log.InfoContext(ctx, "API key created", slog.String("project_id", project), slog.String("key_hash_prefix", rec.Hash[:12]))
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, CreatedKey{ProjectID: project, Key: key, CreatedAt: rec.CreatedAt})
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
	rec := store.APIKey{Hash: hash, ProjectID: project, CreatedAt: store.NormalizeTime(now)}
	if err := st.RunTx(ctx, func(tx store.Tx) error { return tx.PutAPIKey(rec) }); err != nil {
		return fmt.Errorf("seed API key: %w", err)
	}
	return nil
}
