package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/deadletter"
)

// DeadLetters is what the dead-letter admin routes need of the queue: the
// dead-letter subscriptions, and listing and replaying their messages.
// *deadletter.Service implements it; see package deadletter for what
// listing and replaying do.
type DeadLetters interface {
	// Subscriptions lists the dead-letter subscriptions that List and
	// Replay accept.
	Subscriptions() []string
	// List returns up to max messages of subscription without consuming
	// them; subscription "" means every one of Subscriptions.
	List(ctx context.Context, subscription string, max int) ([]deadletter.Letter, error)
	// Replay republishes the messages of subscription with the given ids
	// (every message when ids is empty) to their original topics, examining
	// at most max messages, and removes them from subscription; or, with
	// the result Pending, has had that queued without knowing the outcome
	// yet.
	Replay(ctx context.Context, subscription string, ids []string, max int) (deadletter.ReplayResult, error)
}

// Limits of the dead-letter routes' "max".
const (
	DeadLetterListMaxDefault   = 50
	DeadLetterReplayMaxDefault = 100
	DeadLetterMaxLimit         = deadletter.MaxLimit
)

// DeadLetterView is one message of GET /v1/admin/dlq. Data is the payload
// as text when it is valid UTF-8 without control characters (JSON, text),
// else base64 with DataBase64 set. Attributes are all of the message's,
// reason and source_subscription included. Topic is where a replay
// publishes it. DeliveryAttempt is the number of deliveries on the source
// subscription before Pub/Sub dead-lettered it, 0 when unknown (a message a
// service refused itself).
type DeadLetterView struct {
	ID                 string            `json:"id"`
	Subscription       string            `json:"subscription"`
	Data               string            `json:"data"`
	DataBase64         bool              `json:"data_base64"`
	Attributes         map[string]string `json:"attributes"`
	Reason             string            `json:"reason"`
	SourceSubscription string            `json:"source_subscription,omitempty"`
	Topic              string            `json:"topic"`
	PublishTime        time.Time         `json:"publish_time"`
	DeliveryAttempt    int               `json:"delivery_attempt"`
}

// DeadLetterList is the body of GET /v1/admin/dlq: the subscriptions that
// were read (the one asked for, or all of them) and their messages, oldest
// first.
type DeadLetterList struct {
	Subscriptions []string         `json:"subscriptions"`
	Messages      []DeadLetterView `json:"messages"`
}

// DeadLetterReplayRequest is the body of POST /v1/admin/dlq/replay.
// Subscription is required; empty IDs replays every message; Max bounds
// the messages examined (default DeadLetterReplayMaxDefault).
type DeadLetterReplayRequest struct {
	Subscription string   `json:"subscription"`
	IDs          []string `json:"ids"`
	Max          int      `json:"max"`
}

// DeadLetterReplayResult is the answer of POST /v1/admin/dlq/replay:
// how many messages were replayed, their ids, and the ids asked for that
// were not found (absent, already replayed, or waiting out a retry backoff
// after a recent listing: try again in a minute). RequestID names the
// replay request when the router carries it out (deadletter.Remote);
// Pending (answered with 202) says that the request is queued but its
// outcome is not known yet: nothing is said of what it replayed.
type DeadLetterReplayResult struct {
	Replayed  int      `json:"replayed"`
	IDs       []string `json:"ids"`
	NotFound  []string `json:"not_found"`
	RequestID string   `json:"request_id,omitempty"`
	Pending   bool     `json:"pending"`
}

// deadLetters returns the configured DeadLetters, or a 404 naming what is
// missing.
func (s *Server) deadLetters() (DeadLetters, error) {
	if s.cfg.DeadLetters == nil {
		return nil, &httpError{status: http.StatusNotFound, ErrorDetail: ErrorDetail{
			Code: CodeNotFound, Message: "dead-letter queues are not available on this server (api.Config.DeadLetters is not set)",
		}}
	}
	return s.cfg.DeadLetters, nil
}

// checkSubscription returns a 400 naming field unless sub is one of dl's.
func checkSubscription(dl DeadLetters, field, sub string) error {
	known := dl.Subscriptions()
	if !slices.Contains(known, sub) {
		return invalid(field, "must be one of %s; got %q", strings.Join(known, ", "), sub)
	}
	return nil
}

// listDeadLetters is GET /v1/admin/dlq?subscription=&max=.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	dl, err := s.deadLetters()
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	sub := qv.Get("subscription")
	subs := dl.Subscriptions()
	if sub != "" {
		if err := checkSubscription(dl, "subscription", sub); err != nil {
			return err
		}
		subs = []string{sub}
	}
	limit := DeadLetterListMaxDefault
	if v := qv.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > DeadLetterMaxLimit {
			return invalid("max", "must be a whole number from 1 to %d, got %q", DeadLetterMaxLimit, v)
		}
		limit = n
	}
	letters, err := dl.List(r.Context(), sub, limit)
	if err != nil {
		return unexpected(err, "list dead letters")
	}
	out := DeadLetterList{Subscriptions: subs, Messages: make([]DeadLetterView, 0, len(letters))}
	for _, l := range letters {
		out.Messages = append(out.Messages, viewOf(l))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// viewOf is the JSON view of a dead letter.
func viewOf(l deadletter.Letter) DeadLetterView {
	v := DeadLetterView{
		ID: l.ID, Subscription: l.Subscription, Attributes: l.Attributes, Reason: l.Reason,
		SourceSubscription: l.SourceSubscription, Topic: l.Topic, PublishTime: l.PublishTime.UTC(),
		DeliveryAttempt: l.DeliveryAttempt,
	}
	if v.Attributes == nil {
		v.Attributes = map[string]string{}
	}
	if isText(l.Data) {
		v.Data = string(l.Data)
	} else {
		v.Data, v.DataBase64 = base64.StdEncoding.EncodeToString(l.Data), true
	}
	return v
}

// isText reports whether b reads as text: valid UTF-8 without control
// characters other than tab, newline and carriage return.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// replayDeadLetters is POST /v1/admin/dlq/replay.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) error {
	dl, err := s.deadLetters()
	if err != nil {
		return err
	}
	req, err := readJSON[DeadLetterReplayRequest](s, w, r)
	if err != nil {
		return err
	}
	if req.Subscription == "" {
		return invalid("subscription", "is required: one of %s", strings.Join(dl.Subscriptions(), ", "))
	}
	if err := checkSubscription(dl, "subscription", req.Subscription); err != nil {
		return err
	}
	for i, id := range req.IDs {
		if id == "" {
			return invalid(fmt.Sprintf("ids[%d]", i), "must not be empty")
		}
	}
	switch {
	case req.Max == 0:
		req.Max = max(DeadLetterReplayMaxDefault, len(req.IDs))
	case req.Max < 1 || req.Max > DeadLetterMaxLimit:
		return invalid("max", "must be from 1 to %d, got %d", DeadLetterMaxLimit, req.Max)
	}
	if len(req.IDs) > DeadLetterMaxLimit {
		return invalid("ids", "at most %d ids per request, got %d", DeadLetterMaxLimit, len(req.IDs))
	}
	ctx := r.Context()
	res, err := dl.Replay(ctx, req.Subscription, req.IDs, req.Max)
	out := DeadLetterReplayResult{Replayed: len(res.Replayed), IDs: []string{}, NotFound: res.NotFound,
		RequestID: res.RequestID, Pending: res.Pending}
	for _, l := range res.Replayed {
		out.IDs = append(out.IDs, l.ID)
	}
	if out.NotFound == nil {
		out.NotFound = []string{}
	}
	if out.Replayed > 0 || out.Pending || err != nil {
		s.log.InfoContext(ctx, "dead letters replayed by admin", slog.String("subscription", req.Subscription),
			slog.Int("replayed", out.Replayed), slog.Any("ids", out.IDs), slog.Int("not_found", len(out.NotFound)),
			slog.String("request_id", out.RequestID), slog.Bool("pending", out.Pending))
	}
	if err != nil {
		// Replay is idempotent: the admin retries; what was replayed
		// before the failure is logged above.
		return unexpected(err, fmt.Sprintf("replay dead letters of %s (%d replayed before the failure)", req.Subscription, out.Replayed))
	}
	status := http.StatusOK
	if out.Pending {
		status = http.StatusAccepted
	}
	s.writeJSON(w, r, status, out)
	return nil
}
