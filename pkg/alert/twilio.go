package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// TwilioAPI is the base URL of Twilio's REST API.
const TwilioAPI = "https://api.twilio.com"

// e164 is the phone number form Twilio takes: + and up to 15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidPhone reports whether s is an E.164 number ("+15550100").
func ValidPhone(s string) bool { return e164.MatchString(s) }

// SMS sends alerts as text messages through the Twilio Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded
// To, From and Body, HTTP basic auth with the account SID and auth token),
// one message to one number.
type SMS struct {
	BaseURL    string // TwilioAPI, or a Twilio-shaped simulator
	AccountSID string
	AuthToken  string // a credential: never in errors or logs
	From       string // an E.164 number of the account
	To         string // an E.164 number
	Client     *http.Client
}

// Channel implements Sender.
func (s *SMS) Channel() string { return "sms" }

// smsMax keeps a message within two concatenated SMS segments.
const smsMax = 300

// SMSText renders a as one short message: the subject, then as much of the
// text as fits.
func SMSText(a Alert) string {
	s := "[AIPROD] " + a.Subject
	if a.Project != "" {
		s += " (project " + a.Project + ")"
	}
	if a.Text != "" {
		s += ": " + a.Text
	}
	return clip(s, smsMax)
}

// Send implements Sender. Twilio answers 201 with the message resource
// (its sid and status "queued"); refusals are JSON documents with a code
// and message, quoted in the error.
func (s *SMS) Send(ctx context.Context, a Alert) error {
	if err := a.Validate(); err != nil {
		return errclass.Wrap(errclass.Permanent, err, "sms")
	}
	if !ValidPhone(s.To) || !ValidPhone(s.From) {
		return errclass.New(errclass.Permanent, "sms: to and from must be E.164 numbers (+15550100)")
	}
	base := s.BaseURL
	if base == "" {
		base = TwilioAPI
	}
	form := url.Values{"To": {s.To}, "From": {s.From}, "Body": {SMSText(a)}}
	endpoint := strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(s.AccountSID) + "/Messages.json"
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return errclass.New(errclass.Permanent, "sms: the Twilio base URL is not a URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	body, err := post(ctx, s.Client, req, "sms")
	if err != nil {
		return twilioError(err, body)
	}
	var msg struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.SID == "" {
		return errclass.New(errclass.Retryable, "sms: Twilio answered 2xx without a message sid")
	}
	return nil
}

// twilioError adds Twilio's error code and message to a refusal, keeping
// its class.
func twilioError(err error, body []byte) error {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		var ce *errclass.Error
		if errors.As(err, &ce) {
			out := *ce
			out.Msg = fmt.Sprintf("sms: Twilio refused (code %d): %s", e.Code, clip(e.Message, 200))
			return &out
		}
	}
	return err
}
