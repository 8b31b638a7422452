// Package inbox is a local stand-in for the places operator alerts go: a
// Slack-shaped incoming-webhook receiver, a Twilio-shaped Messages API and
// a real SMTP server, all recording what they received. Tests point
// pkg/alert's senders at it; `aiprod dev` starts one and prints where the
// messages can be read (GET /__sim/messages).
//
// The receivers speak the real protocols as far as a sender can tell:
// Slack answers 200 "ok" or 400 "invalid_payload"/"no_text"; Twilio checks
// HTTP basic auth against its account SID and token and the E.164 numbers,
// answers 201 with a message resource or a Twilio error document; the SMTP
// server takes any sender and recipient and parses the MIME message it is
// given into its subject and text part.
package inbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one alert as a receiver saw it.
type Message struct {
	Channel string          `json:"channel"` // slack, sms or email
	To      string          `json:"to"`      // hook path, phone number or recipients
	From    string          `json:"from,omitempty"`
	Subject string          `json:"subject,omitempty"` // email only
	Text    string          `json:"text"`              // Slack's fallback text, the SMS body, the email's text part
	HTML    string          `json:"html,omitempty"`    // the email's HTML part
	Raw     json.RawMessage `json:"raw,omitempty"`     // the Slack payload as posted
	At      time.Time       `json:"at"`
}

// Config is the inbox's Twilio account; the zero value accepts the dev
// stack's defaults.
type Config struct {
	TwilioSID   string // default "ACdev"
	TwilioToken string // default "dev-token"
	// SMTPTLS, when set, makes the SMTP server offer STARTTLS with it.
	SMTPTLS *tls.Config
}

// Inbox records messages; serve Handler over HTTP and ServeSMTP on a
// listener. Safe for concurrent use.
type Inbox struct {
	cfg  Config
	mu   sync.Mutex
	msgs []Message
	fail []int // statuses the next HTTP posts answer with, in order
	smtp *smtp.Server
}

// New returns an empty inbox.
func New(cfg Config) *Inbox {
	if cfg.TwilioSID == "" {
		cfg.TwilioSID = "ACdev"
	}
	if cfg.TwilioToken == "" {
		cfg.TwilioToken = "dev-token"
	}
	return &Inbox{cfg: cfg}
}

// Config returns the inbox's Twilio account.
func (in *Inbox) Config() Config { return in.cfg }

// Messages returns what was received so far, oldest first.
func (in *Inbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Message(nil), in.msgs...)
}

// FailNext makes the next len(statuses) Slack or Twilio posts answer with
// those statuses, in order, without recording them.
func (in *Inbox) FailNext(statuses ...int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fail = append(in.fail, statuses...)
}

func (in *Inbox) record(m Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
}

// injected returns the status a fault makes this request answer, or 0.
func (in *Inbox) injected() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.fail) == 0 {
		return 0
	}
	s := in.fail[0]
	in.fail = in.fail[1:]
	return s
}

// Handler serves POST /slack/... (any path below it is a hook), POST
// /2010-04-01/Accounts/{sid}/Messages.json, and GET /__sim/messages.
func (in *Inbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/", in.slack)
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", in.twilio)
	mux.HandleFunc("GET /__sim/messages", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"messages": in.Messages()})
	})
	return mux
}

// ServeSMTP serves SMTP on l (no TLS, no auth: a local sink) until ctx
// ends or Close is called.
func (in *Inbox) ServeSMTP(ctx context.Context, l net.Listener) error {
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{in: in}, nil }))
	s.Domain = "inbox.local"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxMessageBytes = 1 << 20
	s.TLSConfig = in.cfg.SMTPTLS
	in.mu.Lock()
	in.smtp = s
	in.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	err := s.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the SMTP server, if serving.
func (in *Inbox) Close() error {
	in.mu.Lock()
	s := in.smtp
	in.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func trimSpace(s string) string { return strings.TrimSpace(s) }
