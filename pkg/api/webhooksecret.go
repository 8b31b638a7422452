package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// WebhookSecrets rotates the projects' webhook signing secrets
// (webhooksecrets.Keyring).
type WebhookSecrets interface {
	// Rotate makes a new secret for project and returns it; the previous
	// one keeps signing for the overlap.
	Rotate(ctx context.Context, project string) (string, error)
}

// RotatedSecret is the body of POST
// /v1/admin/projects/{project}/webhook-secret: the new secret, shown this
// once.
type RotatedSecret struct {
	Secret string `json:"secret"`
}

// rotateWebhookSecret is POST /v1/admin/projects/{project}/webhook-secret.
// Without Config.WebhookSecrets (no AIPROD_SECRETS_KEY) it is a 404 saying
// so. The secret is never logged.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, err := adminProject(r)
	if err != nil {
		return err
	}
	if s.cfg.WebhookSecrets == nil {
		return errclass.New(errclass.NotFound, "webhook secrets are not configured on this service (AIPROD_SECRETS_KEY)")
	}
	secret, err := s.cfg.WebhookSecrets.Rotate(ctx, project)
	if err != nil {
		return unexpected(err, "rotate webhook secret")
	}
	s.log.InfoContext(ctx, "webhook secret rotated", slog.String("project_id", project))
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusOK, RotatedSecret{Secret: secret})
	return nil
}
