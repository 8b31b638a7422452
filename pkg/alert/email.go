package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// TLS modes of an SMTP connection.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587); the default
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a local relay or the dev stack's sink only
)

// Email sends alerts over SMTP as a multipart/alternative message with a
// plain-text and an HTML part, both rendered from the templates in
// templates/.
type Email struct {
	Addr     string   // host:port of the SMTP server
	TLS      string   // TLSStartTLS (default), TLSImplicit or TLSNone
	Username string   // with Password: AUTH PLAIN, only over TLS
	Password string   // a credential: never in errors or logs
	From     string   // the envelope and header sender
	To       []string // recipients, all in one message
	// TLSConfig overrides the TLS settings (tests trust their own CA);
	// nil verifies the server's name against the system roots.
	TLSConfig *tls.Config
	Timeout   time.Duration // the whole exchange; DefaultTimeout when 0
}

// Channel implements Sender.
func (e *Email) Channel() string { return "email" }

//go:embed templates
var templates embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templates, "templates/alert.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/alert.html.tmpl"))
)

// view is what the templates see.
type view struct {
	Alert
	When  string
	Color string
}

func newView(a Alert) view {
	color := map[Severity]string{Critical: "#cf222e", Warning: "#bf8700"}[a.Severity]
	if color == "" {
		color = "#0969da"
	}
	return view{Alert: a, When: a.At.UTC().Format("2006-01-02 15:04:05 UTC"), Color: color}
}

// Send implements Sender.
func (e *Email) Send(ctx context.Context, a Alert) error {
	if err := a.Validate(); err != nil {
		return errclass.Wrap(errclass.Permanent, err, "email")
	}
	if len(e.To) == 0 {
		return errclass.New(errclass.Permanent, "email: no recipients")
	}
	msg, err := EmailMessage(a, e.From, e.To, time.Now())
	if err != nil {
		return errclass.Wrap(errclass.Permanent, err, "email: rendering the message")
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return e.deliver(ctx, msg)
}

// deliver runs one SMTP exchange: connect (TLS as configured), AUTH when a
// username is set, MAIL, RCPT for each recipient, DATA, QUIT.
func (e *Email) deliver(ctx context.Context, msg []byte) error {
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if e.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS {
			return errclass.New(errclass.Permanent, "email: refusing to send the SMTP password without TLS")
		}
		if err := c.Auth(sasl.NewPlainClient("", e.Username, e.Password)); err != nil {
			return smtpError("authenticating", err)
		}
	}
	from, to, err := envelope(e.From, e.To)
	if err != nil {
		return err
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return smtpError("sending", err)
	}
	if err := c.Quit(); err != nil {
		return smtpError("quitting", err)
	}
	return nil
}

func (e *Email) dial(ctx context.Context) (*smtp.Client, error) {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return nil, errclass.New(errclass.Permanent, "email: SMTP address %q is not host:port", e.Addr)
	}
	cfg := e.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	var conn net.Conn
	switch e.TLS {
	case TLSImplicit:
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		conn, err = td.DialContext(ctx, "tcp", e.Addr)
	case "", TLSStartTLS, TLSNone:
		conn, err = d.DialContext(ctx, "tcp", e.Addr)
	default:
		return nil, errclass.New(errclass.Permanent, "email: TLS mode %q is not starttls, tls or none", e.TLS)
	}
	if err != nil {
		return nil, errclass.Wrap(errclass.Retryable, err, "email: connecting to the SMTP server")
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if e.TLS == "" || e.TLS == TLSStartTLS {
		c, err := smtp.NewClientStartTLS(conn, cfg)
		if err != nil {
			return nil, smtpError("starting TLS", err)
		}
		return c, nil
	}
	return smtp.NewClient(conn), nil
}

// envelope returns the bare addresses of the sender and recipients
// ("AIPROD <alerts@example.com>" → "alerts@example.com").
func envelope(from string, to []string) (string, []string, error) {
	f, err := mail.ParseAddress(from)
	if err != nil {
		return "", nil, errclass.New(errclass.Permanent, "email: from address %q is not an address", from)
	}
	rcpt := make([]string, 0, len(to))
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return "", nil, errclass.New(errclass.Permanent, "email: recipient %q is not an address", t)
		}
		rcpt = append(rcpt, a.Address)
	}
	return f.Address, rcpt, nil
}

// smtpError classifies an SMTP failure: a 4xx reply is transient
// (Retryable), a 5xx reply Permanent, anything else (a broken connection)
// Retryable.
func smtpError(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return errclass.Wrap(errclass.Permanent, err, "email: "+step)
	}
	return errclass.Wrap(errclass.Retryable, err, "email: "+step)
}

// EmailMessage renders a as an RFC 5322 message with a text and an HTML
// alternative (quoted-printable, UTF-8), CRLF line ends.
func EmailMessage(a Alert, from string, to []string, now time.Time) ([]byte, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("from address %q: %w", from, err)
	}
	for _, t := range to {
		if _, err := mail.ParseAddress(t); err != nil {
			return nil, fmt.Errorf("recipient %q: %w", t, err)
		}
	}
	v := newView(a)
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return nil, err
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ typ, content string }{{"text/plain", text.String()}, {"text/html", html.String()}} {
		if err := writePart(mw, part.typ, part.content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var msg bytes.Buffer
	header := [][2]string{
		{"From", from},
		{"To", strings.Join(to, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", "[AIPROD] "+a.Subject)},
		{"Date", now.UTC().Format(time.RFC1123Z)},
		{"Message-ID", messageID(from)},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
		{"X-AIPROD-Alert", string(a.Kind)},
	}
	for _, h := range header {
		fmt.Fprintf(&msg, "%s: %s\r\n", h[0], h[1])
	}
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

func writePart(mw *multipart.Writer, typ, content string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", typ+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(strings.ReplaceAll(content, "\n", "\r\n"))); err != nil {
		return err
	}
	return qp.Close()
}

// messageID returns a unique Message-ID in the sender's domain.
func messageID(from string) string {
	domain := "aiprod.local"
	if addr, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(addr.Address, '@'); i >= 0 {
			domain = addr.Address[i+1:]
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}
