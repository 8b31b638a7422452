package inbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/alert"
)

// slack answers as an incoming webhook does: 200 "ok", or 400 with a short
// reason when the payload has neither text nor blocks.
func (in *Inbox) slack(w http.ResponseWriter, r *http.Request) {
	if s := in.injected(); s != 0 {
		http.Error(w, http.StatusText(s), s)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	var p struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(body, &p) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if p.Text == "" && len(p.Blocks) == 0 {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	in.record(Message{Channel: "slack", To: r.URL.Path, Text: p.Text, Raw: body, At: time.Now().UTC()})
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

// twilio answers as the Messages API does: 401 with error 20003 for a
// wrong account or token, 400 with 21211/21212/21602 for a bad To, From or
// empty Body, else 201 with the queued message resource.
func (in *Inbox) twilio(w http.ResponseWriter, r *http.Request) {
	if s := in.injected(); s != 0 {
		twilioError(w, s, 20500, "Internal Server Error")
		return
	}
	sid, token, ok := r.BasicAuth()
	if !ok || sid != in.cfg.TwilioSID || token != in.cfg.TwilioToken || r.PathValue("sid") != in.cfg.TwilioSID {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	switch {
	case !alert.ValidPhone(to):
		twilioError(w, http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case !alert.ValidPhone(from):
		twilioError(w, http.StatusBadRequest, 21212, "The 'From' number "+from+" is not a valid phone number.")
		return
	case trimSpace(body) == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	now := time.Now().UTC()
	in.record(Message{Channel: "sms", To: to, From: from, Text: body, At: now})
	msgSID := newID("SM")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": msgSID, "account_sid": sid, "to": to, "from": from, "body": body,
		"status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": now.Format(time.RFC1123Z), "num_segments": "1",
		"uri": "/2010-04-01/Accounts/" + sid + "/Messages/" + msgSID + ".json",
	})
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}
