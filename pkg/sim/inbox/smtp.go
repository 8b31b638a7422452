package inbox

import (
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// session receives one SMTP transaction at a time and records each message.
type session struct {
	in   *Inbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data parses the message: its subject, and its text/plain and text/html
// parts (a single-part message's body is its text).
func (s *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unreadable message: " + err.Error()}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	m := Message{Channel: "email", To: strings.Join(s.to, ", "), From: s.from, Subject: subject, At: time.Now().UTC()}
	mt, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		readParts(multipart.NewReader(msg.Body, params["boundary"]), &m)
	} else {
		b, _ := io.ReadAll(io.LimitReader(msg.Body, 1<<20))
		m.Text = string(b)
	}
	s.in.record(m)
	return nil
}

// readParts fills m's Text and HTML from a multipart body; the multipart
// reader undoes quoted-printable transfer encoding itself.
func readParts(mr *multipart.Reader, m *Message) {
	for {
		p, err := mr.NextPart()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(io.LimitReader(p, 1<<20))
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
}
