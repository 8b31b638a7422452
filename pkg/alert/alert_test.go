package alert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/alert"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/sim/inbox"
)

var at = time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)

func sample() alert.Alert {
	return alert.Alert{
		Kind: alert.CircuitOpen, Severity: alert.Critical, Subject: "Backend fal is down: circuit opened",
		Text:   "5 consecutive failures <@channel> & more; routing skips fal until it recovers.",
		Fields: []alert.Field{{"Backend", "fal"}, {"Last error", "503 Service Unavailable"}},
		At:     at,
	}
}

func startInbox(t *testing.T, cfg inbox.Config) (*inbox.Inbox, *httptest.Server) {
	t.Helper()
	in := inbox.New(cfg)
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close)
	return in, srv
}

func TestSlackPostsBlockKitAndTheReceiverAcceptsIt(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	s := &alert.Slack{URL: srv.URL + "/slack/services/T000/B000/secret-token", Client: loopback}
	require.NoError(t, s.Send(context.Background(), sample()))

	msgs := in.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "slack", msgs[0].Channel)
	assert.Equal(t, "Backend fal is down: circuit opened", msgs[0].Text)
	var p alert.SlackPayload
	require.NoError(t, json.Unmarshal(msgs[0].Raw, &p))
	require.Len(t, p.Blocks, 4)
	assert.Equal(t, "header", p.Blocks[0].Type)
	assert.Equal(t, "plain_text", p.Blocks[0].Text.Type)
	// mrkdwn is escaped: an alert cannot mention @channel or forge links.
	assert.Equal(t, "5 consecutive failures &lt;@channel&gt; &amp; more; routing skips fal until it recovers.", p.Blocks[1].Text.Text)
	assert.Equal(t, []alert.SlackText{{Type: "mrkdwn", Text: "*Backend*\nfal"}, {Type: "mrkdwn", Text: "*Last error*\n503 Service Unavailable"}}, p.Blocks[2].Fields)
	assert.Equal(t, "context", p.Blocks[3].Type)
	assert.Contains(t, p.Blocks[3].Elements[0].Text, "backend.circuit_open · critical · 2026-12-04 10:30:00 UTC")
}

func TestSlackBlockKitLimitsHold(t *testing.T) {
	a := sample()
	a.Subject = strings.Repeat("s", 400)
	a.Text = strings.Repeat("t", 5000)
	for i := 0; i < 15; i++ {
		a.Fields = append(a.Fields, alert.Field{Label: "l", Value: strings.Repeat("v", 3000)})
	}
	p := alert.SlackMessage(a)
	assert.LessOrEqual(t, len([]rune(p.Blocks[0].Text.Text)), 150)
	assert.LessOrEqual(t, len([]rune(p.Blocks[1].Text.Text)), 3000)
	assert.Len(t, p.Blocks[2].Fields, 10)
	for _, f := range p.Blocks[2].Fields {
		assert.LessOrEqual(t, len([]rune(f.Text)), 2000)
	}
}

func TestSlackRefusalsAreClassifiedAndNeverQuoteTheHookURL(t *testing.T) {
	for _, tc := range []struct {
		status int
		class  error
	}{{http.StatusNotFound, errclass.Permanent}, {http.StatusGone, errclass.Permanent}, {http.StatusInternalServerError, errclass.Retryable}, {http.StatusTooManyRequests, errclass.Retryable}} {
		in, srv := startInbox(t, inbox.Config{})
		in.FailNext(tc.status)
		err := (&alert.Slack{URL: srv.URL + "/slack/services/T000/B000/secret-token", Client: loopback}).Send(context.Background(), sample())
		require.Error(t, err)
		assert.ErrorIs(t, err, tc.class, "status %d", tc.status)
		assert.NotContains(t, err.Error(), "secret-token")
		assert.Empty(t, in.Messages())
	}
	// A hook nobody listens on: Retryable, and the URL is not quoted either.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/slack/services/T000/B000/secret-token"
	srv.Close()
	err := (&alert.Slack{URL: url, Client: loopback}).Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Retryable)
	assert.NotContains(t, err.Error(), "secret-token")
}

func TestSMSGoesThroughTheTwilioMessagesAPI(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{TwilioSID: "AC123", TwilioToken: "tok-secret"})
	s := &alert.SMS{Client: loopback, BaseURL: srv.URL, AccountSID: "AC123", AuthToken: "tok-secret", From: "+15550100", To: "+15550199"}
	require.NoError(t, s.Send(context.Background(), sample()))
	msgs := in.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, inbox.Message{Channel: "sms", To: "+15550199", From: "+15550100", Text: msgs[0].Text, At: msgs[0].At}, msgs[0])
	assert.True(t, strings.HasPrefix(msgs[0].Text, "[AIPROD] Backend fal is down: circuit opened: 5 consecutive"), msgs[0].Text)
	assert.LessOrEqual(t, len([]rune(alert.SMSText(alert.Alert{Subject: strings.Repeat("x", 1000)}))), 300)
}

func TestSMSRefusalsNameTwilioCodeButNeverTheToken(t *testing.T) {
	_, srv := startInbox(t, inbox.Config{TwilioSID: "AC123", TwilioToken: "tok-secret"})
	wrong := &alert.SMS{Client: loopback, BaseURL: srv.URL, AccountSID: "AC123", AuthToken: "tok-wrong", From: "+15550100", To: "+15550199"}
	err := wrong.Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Permanent)
	assert.Contains(t, err.Error(), "code 20003")
	assert.NotContains(t, err.Error(), "tok-wrong")

	bad := &alert.SMS{Client: loopback, BaseURL: srv.URL, AccountSID: "AC123", AuthToken: "tok-secret", From: "+15550100", To: "555-0199"}
	err = bad.Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Permanent)
	assert.Contains(t, err.Error(), "E.164")
}

func TestSMSServerErrorIsRetryable(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	in.FailNext(http.StatusServiceUnavailable)
	s := &alert.SMS{Client: loopback, BaseURL: srv.URL, AccountSID: "ACdev", AuthToken: "dev-token", From: "+15550100", To: "+15550199"}
	require.ErrorIs(t, s.Send(context.Background(), sample()), errclass.Retryable)
	require.NoError(t, s.Send(context.Background(), sample()))
	assert.Len(t, in.Messages(), 1)
}

func serveSMTP(t *testing.T, in *inbox.Inbox) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.ServeSMTP(ctx, l) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return l.Addr().String()
}

func TestEmailIsDeliveredToARealSMTPServerWithTextAndHTML(t *testing.T) {
	in := inbox.New(inbox.Config{})
	addr := serveSMTP(t, in)
	a := sample()
	a.Project = "acme"
	a.Subject = "Budget 80% used — acme"
	e := &alert.Email{Addr: addr, TLS: alert.TLSNone, From: "AIPROD <alerts@example.com>", To: []string{"ops@example.com", "Dana <dana@example.com>"}}
	require.NoError(t, e.Send(context.Background(), a))

	msgs := in.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "email", m.Channel)
	assert.Equal(t, "alerts@example.com", m.From)
	assert.Equal(t, "ops@example.com, dana@example.com", m.To)
	assert.Equal(t, "[AIPROD] Budget 80% used — acme", m.Subject)
	assert.Contains(t, m.Text, "Project: acme")
	assert.Contains(t, m.Text, "Backend: fal\nLast error: 503 Service Unavailable\n")
	assert.Contains(t, m.Text, "5 consecutive failures <@channel> & more")
	assert.Contains(t, m.HTML, "<th style=\"text-align: left; padding: 2px 12px 2px 0; color: #59636e; font-weight: normal;\">Backend</th><td style=\"padding: 2px 0;\">fal</td>")
	// The HTML part escapes the alert's text.
	assert.Contains(t, m.HTML, "5 consecutive failures &lt;@channel&gt; &amp; more")
}

func TestEmailRequiresTLSByDefaultAndNeverSendsAPasswordInClear(t *testing.T) {
	in := inbox.New(inbox.Config{})
	addr := serveSMTP(t, in)
	e := &alert.Email{Addr: addr, From: "alerts@example.com", To: []string{"ops@example.com"}}
	err := e.Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Retryable, "a server without STARTTLS is refused in the default mode")
	assert.Contains(t, err.Error(), "starting TLS")

	e = &alert.Email{Addr: addr, TLS: alert.TLSNone, Username: "u", Password: "smtp-secret", From: "alerts@example.com", To: []string{"ops@example.com"}}
	err = e.Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Permanent)
	assert.NotContains(t, err.Error(), "smtp-secret")
	assert.Empty(t, in.Messages())
}

func TestEmailOverSTARTTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	in := inbox.New(inbox.Config{SMTPTLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	addr := serveSMTP(t, in)
	e := &alert.Email{Addr: addr, From: "alerts@example.com", To: []string{"ops@example.com"},
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	require.NoError(t, e.Send(context.Background(), sample()))
	require.Len(t, in.Messages(), 1)

	// The same server with a certificate the client does not trust.
	e.TLSConfig = &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	require.Error(t, e.Send(context.Background(), sample()))
	assert.Len(t, in.Messages(), 1)
}

func TestEmailRefusesBadAddressesAsPermanent(t *testing.T) {
	e := &alert.Email{Addr: "127.0.0.1:1", TLS: alert.TLSNone, From: "not an address", To: []string{"ops@example.com"}}
	require.ErrorIs(t, e.Send(context.Background(), sample()), errclass.Permanent)
	e = &alert.Email{Addr: "127.0.0.1:1", TLS: alert.TLSNone, From: "a@example.com"}
	require.ErrorIs(t, e.Send(context.Background(), sample()), errclass.Permanent)
}

func TestAnInvalidAlertIsPermanentOnEveryChannel(t *testing.T) {
	bad := alert.Alert{Kind: "budget.exploded", Subject: "x", At: at}
	for _, s := range []alert.Sender{&alert.Slack{URL: "http://127.0.0.1:1/"}, &alert.SMS{}, &alert.Email{}} {
		err := s.Send(context.Background(), bad)
		require.True(t, errors.Is(err, errclass.Permanent), "%s: %v", s.Channel(), err)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "inbox"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSettingsValidationNamesTheField(t *testing.T) {
	ok := alert.Settings{SlackWebhookURL: "https://hooks.slack.com/services/T/B/x", Emails: []string{"ops@example.com"}, SMS: []string{"+15550100"}, Events: []alert.Kind{alert.BudgetThreshold, alert.DLQMessage}}
	require.NoError(t, ok.Validate(false))
	for field, s := range map[string]alert.Settings{
		"slack_webhook_url": {SlackWebhookURL: "http://hooks.slack.com/services/T/B/x"},
		"emails":            {Emails: []string{"Ops <ops@example.com>"}},
		"sms":               {SMS: []string{"555-0100"}},
		"events":            {Events: []alert.Kind{"budget.exploded"}},
	} {
		err := s.Validate(false)
		var fe *job.FieldError
		require.ErrorAs(t, err, &fe, field)
		assert.Equal(t, field, fe.Field)
	}
	require.NoError(t, alert.Settings{SlackWebhookURL: "http://127.0.0.1:9/slack/x"}.Validate(true), "dev takes its loopback inbox")
}

func TestChannelsBuildOneSenderPerDestinationAndSkipUnconfiguredOnes(t *testing.T) {
	s := alert.Settings{SlackWebhookURL: "https://hooks.slack.com/x", Emails: []string{"a@example.com", "b@example.com"}, SMS: []string{"+15550100", "+15550101"}}
	senders, skipped := alert.Channels{}.Senders(s)
	require.Len(t, senders, 1)
	assert.Equal(t, "slack", senders[0].Channel())
	assert.Equal(t, []string{"email: no SMTP server configured", "sms: no Twilio account configured"}, skipped)

	c := alert.Channels{Email: alert.Email{Addr: "smtp:587", From: "alerts@example.com"}, SMS: alert.SMS{AccountSID: "AC1", AuthToken: "t", From: "+15550199"}}
	senders, skipped = c.Senders(s)
	assert.Empty(t, skipped)
	var channels []string
	for _, x := range senders {
		channels = append(channels, x.Channel())
	}
	assert.Equal(t, []string{"slack", "email", "sms", "sms"}, channels)
	assert.Equal(t, []string{"a@example.com", "b@example.com"}, senders[1].(*alert.Email).To)
	assert.Equal(t, "+15550101", senders[3].(*alert.SMS).To)
	assert.Empty(t, c.Email.To, "the template account is not changed")
}

// loopback is the client of the tests' receivers on 127.0.0.1, which the
// senders' default client refuses.
var loopback = (&netguard.Policy{AllowPrivate: true}).Client()

func TestTheDefaultClientRefusesPrivateNetworks(t *testing.T) {
	in, srv := startInbox(t, inbox.Config{})
	err := (&alert.Slack{URL: srv.URL + "/slack/x"}).Send(context.Background(), sample())
	require.ErrorIs(t, err, errclass.Permanent)
	assert.Contains(t, err.Error(), "loopback address")
	assert.Empty(t, in.Messages())
}

func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSettingsRefuseAPrivateSlackHostInServices(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1/slack", "https://metadata.google.internal/x", "https://[::ffff:10.0.0.1]/x"} {
		err := alert.Settings{SlackWebhookURL: u}.Validate(false)
		var fe *job.FieldError
		require.ErrorAs(t, err, &fe, u)
		assert.Equal(t, "slack_webhook_url", fe.Field)
	}
}
