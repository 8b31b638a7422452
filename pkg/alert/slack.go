package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// Slack posts alerts to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks) as Block Kit blocks, with a
// plain-text fallback for notifications.
type Slack struct {
	// URL is the incoming webhook URL (https://hooks.slack.com/services/…).
	// It is a credential: it never appears in errors or logs.
	URL    string
	Client *http.Client // nil: a client with DefaultTimeout
}

// Channel implements Sender.
func (s *Slack) Channel() string { return "slack" }

// Send implements Sender. Slack answers 200 with the body "ok"; refusals
// come as 4xx with a short reason such as "no_service" or
// "invalid_blocks".
func (s *Slack) Send(ctx context.Context, a Alert) error {
	if err := a.Validate(); err != nil {
		return errclass.Wrap(errclass.Permanent, err, "slack")
	}
	body, err := json.Marshal(SlackMessage(a))
	if err != nil {
		return errclass.Wrap(errclass.Permanent, err, "slack: encoding the message")
	}
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return errclass.New(errclass.Permanent, "slack: the webhook URL is not a URL")
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = post(ctx, s.Client, req, "slack")
	return err
}

// SlackPayload is the body of an incoming-webhook post.
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit layout block (header, section or context).
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// Block Kit limits: a header's text, a section's text and field, the
// fields of one section.
const (
	slackHeaderMax = 150
	slackTextMax   = 3000
	slackFieldMax  = 2000
	slackFieldsMax = 10
	slackPlainText = "plain_text"
	slackMarkdown  = "mrkdwn"
)

// SlackMessage renders a as Block Kit: a header with the subject, the text,
// the fields two by two, and a context line with the kind, severity and
// time. Text is escaped for mrkdwn (&, <, >), so an alert cannot ping
// channels or forge links.
func SlackMessage(a Alert) SlackPayload {
	blocks := []SlackBlock{{Type: "header", Text: &SlackText{slackPlainText, clip(a.Subject, slackHeaderMax)}}}
	if a.Text != "" {
		blocks = append(blocks, SlackBlock{Type: "section", Text: &SlackText{slackMarkdown, clip(slackEscape(a.Text), slackTextMax)}})
	}
	var fields []SlackText
	for _, f := range a.Fields {
		if len(fields) == slackFieldsMax {
			break
		}
		fields = append(fields, SlackText{slackMarkdown, clip(fmt.Sprintf("*%s*\n%s", slackEscape(f.Label), slackEscape(f.Value)), slackFieldMax)})
	}
	if len(fields) > 0 {
		blocks = append(blocks, SlackBlock{Type: "section", Fields: fields})
	}
	ctx := fmt.Sprintf("%s · %s · %s", a.Kind, a.Severity, a.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	if a.Project != "" {
		ctx = "project " + slackEscape(a.Project) + " · " + ctx
	}
	blocks = append(blocks, SlackBlock{Type: "context", Elements: []SlackText{{slackMarkdown, ctx}}})
	return SlackPayload{Text: clip(slackEscape(a.Subject), slackTextMax), Blocks: blocks}
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
