package webhooksecrets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// OverlapDefault is how long a rotated-out secret keeps signing.
const OverlapDefault = 24 * time.Hour

// Config configures a Keyring.
type Config struct {
	Store store.Store    // required
	Box   *secretbox.Box // required: seals the stored secrets
	// Overlap is how long the previous secret signs after a rotation.
	// 0: OverlapDefault.
	Overlap time.Duration
	Now     func() time.Time // nil: time.Now
}

// Keyring rotates and reads the projects' secrets. Safe for concurrent
// use.
type Keyring struct {
	cfg    Config
	writer *jobwrite.Writer // its RunTx: conflicts and transient errors retried
}

// New returns a Keyring of cfg.
func New(cfg Config) (*Keyring, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("webhooksecrets: Config.Store is required")
	case cfg.Box == nil:
		return nil, errors.New("webhooksecrets: Config.Box is required")
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = OverlapDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Keyring{cfg: cfg, writer: jobwrite.New(jobwrite.Config{Store: cfg.Store})}, nil
}

// sealContext binds a sealed secret to its project.
func sealContext(project string) string { return "aiprod/webhook-secret/" + project }

// Rotate makes a new current secret for project and returns it; the
// current one becomes the previous, signing until now + Overlap.
func (k *Keyring) Rotate(ctx context.Context, project string) (string, error) {
	secret := webhook.NewSecret()
	sealed := k.cfg.Box.Seal(secret, sealContext(project))
	now := store.NormalizeTime(k.cfg.Now())
	err := k.writer.RunTx(ctx, func(tx store.Tx) error {
		next := store.WebhookSecret{ProjectID: project, Current: sealed, RotatedAt: now}
		cur, err := tx.GetWebhookSecret(project)
		switch {
		case err == nil:
			next.Previous, next.PreviousUntil = cur.Current, now.Add(k.cfg.Overlap)
		case !errors.Is(err, errclass.NotFound):
			return err
		}
		return tx.PutWebhookSecret(next)
	})
	if err != nil {
		return "", fmt.Errorf("rotate the webhook secret of project %s: %w", project, err)
	}
	return secret, nil
}

// Signing returns the secrets that sign a webhook of project now: the
// current one, then the previous one while its overlap lasts. A project
// without secrets gets one (see the package doc).
func (k *Keyring) Signing(ctx context.Context, project string) ([]string, error) {
	now := k.cfg.Now()
	var rec store.WebhookSecret
	err := k.writer.RunTx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetWebhookSecret(project)
		switch {
		case err == nil:
			rec = cur
			return nil
		case !errors.Is(err, errclass.NotFound):
			return err
		}
		rec = store.WebhookSecret{ProjectID: project, RotatedAt: store.NormalizeTime(now),
			Current: k.cfg.Box.Seal(webhook.NewSecret(), sealContext(project))}
		return tx.PutWebhookSecret(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("read the webhook secret of project %s: %w", project, err)
	}
	out := make([]string, 0, 2)
	cur, err := k.cfg.Box.Open(rec.Current, sealContext(project))
	if err != nil {
		return nil, errclass.Wrap(errclass.Permanent, err, "open the webhook secret of project "+project+" (is AIPROD_SECRETS_KEY the key it was sealed with?)")
	}
	out = append(out, cur)
	if rec.Previous != "" && now.Before(rec.PreviousUntil) {
		prev, err := k.cfg.Box.Open(rec.Previous, sealContext(project))
		if err != nil {
			return nil, errclass.Wrap(errclass.Permanent, err, "open the previous webhook secret of project "+project)
		}
		out = append(out, prev)
	}
	return out, nil
}
