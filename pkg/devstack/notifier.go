package devstack

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

// webhookSecrets returns the keyring of the projects' webhook secrets,
// sealed under cfg.SecretsKey (a fresh key per run when unset: the
// emulators keep nothing across runs either).
func webhookSecrets(cfg Config, st *firestorestore.Store) (*webhooksecrets.Keyring, error) {
	key := cfg.SecretsKey
	if key == "" {
		key = secretbox.NewKey()
	}
	box, err := secretbox.Parse(key)
	if err != nil {
		return nil, fmt.Errorf("devstack: SecretsKey: %w", err)
	}
	return webhooksecrets.New(webhooksecrets.Config{Store: st, Box: box})
}

// startNotifier runs the notifier (job webhooks) until Close. Its requests
// go through Stack.Network: in the dev stack, receivers on loopback are
// allowed unless Config.RefusePrivateNetworks.
func (s *Stack) startNotifier(runCtx context.Context, cfg Config, q *gcppubsub.Queue, st *firestorestore.Store,
	ring *webhooksecrets.Keyring) error {
	n, err := notifier.New(notifier.Config{Queue: q, Store: st, Secrets: ring, Logger: cfg.Logger,
		Client: &http.Client{Transport: s.Network.Transport()}})
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	s.run(runCtx, "notifier", n.Run)
	return nil
}
