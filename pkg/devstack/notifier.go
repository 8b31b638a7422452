package devstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/sim/inbox"
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

// startNotifier runs the notifier (job webhooks and operator alerts) until
// Close. Its requests go through Stack.Network: in the dev stack, receivers
// on loopback are allowed unless Config.RefusePrivateNetworks. Operator
// alerts go to a local inbox (Stack.AlertsURL lists what it received): the
// operations channel is its Slack-, SMS- and email-shaped receivers, and
// projects' settings may point at it too (its Slack hooks are
// <inbox>/slack/<anything>; emails and SMS of any address reach it).
func (s *Stack) startNotifier(runCtx context.Context, cfg Config, q *gcppubsub.Queue, st *firestorestore.Store,
	ring *webhooksecrets.Keyring) error {
	channels, ops, err := s.startInbox(runCtx)
	if err != nil {
		return err
	}
	channels.Client = &http.Client{Transport: s.Network.Transport(), Timeout: alert.DefaultTimeout}
	alerts := &alert.Alerter{Channels: channels, Ops: ops, Store: st, Logger: cfg.Logger}
	n, err := notifier.New(notifier.Config{Queue: q, Store: st, Secrets: ring, Logger: cfg.Logger,
		Client: &http.Client{Transport: s.Network.Transport()},
		Alerts: alerts, Backends: s.Catalog.Names()})
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	s.run(runCtx, "notifier", n.Run)
	return nil
}

// The dev stack's operations channel: addresses of the local inbox.
const (
	OpsEmail    = "ops@aiprod.local"
	OpsPhone    = "+15550100"
	alertsFrom  = "AIPROD <alerts@aiprod.local>"
	alertsPhone = "+15550199"
)

// startInbox serves a local inbox for operator alerts (HTTP for Slack and
// Twilio, SMTP for email) and returns the channels and operations settings
// that point at it; Stack.AlertsURL is where its messages are listed.
func (s *Stack) startInbox(runCtx context.Context) (alert.Channels, alert.Settings, error) {
	in := inbox.New(inbox.Config{})
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return alert.Channels{}, alert.Settings{}, fmt.Errorf("devstack: alert inbox: %w", err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = hl.Close()
		return alert.Channels{}, alert.Settings{}, fmt.Errorf("devstack: alert inbox: %w", err)
	}
	srv := &http.Server{Handler: in.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.closers = append(s.closers, srv.Close, in.Close)
	go func() { _ = srv.Serve(hl) }()
	s.run(runCtx, "alert inbox", func(ctx context.Context) error { return in.ServeSMTP(ctx, sl) })
	base := "http://" + hl.Addr().String()
	s.AlertsURL = base + "/__sim/messages"
	tw := in.Config()
	channels := alert.Channels{
		Email: alert.Email{Addr: sl.Addr().String(), TLS: alert.TLSNone, From: alertsFrom},
		SMS:   alert.SMS{BaseURL: base, AccountSID: tw.TwilioSID, AuthToken: tw.TwilioToken, From: alertsPhone},
	}
	ops := alert.Settings{SlackWebhookURL: base + "/slack/ops", Emails: []string{OpsEmail}, SMS: []string{OpsPhone}}
	return channels, ops, nil
}
