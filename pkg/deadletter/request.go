package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// ReplayRequest is the message of aiprod-dlq-replay (queue.TopicDLQReplay):
// a request to Replay dead letters, sent by the admin API (Remote) and
// carried out by the router (Replayer). See "Replay requests" in the
// package doc.
type ReplayRequest struct {
	// ID names the request and its outcome (store.DLQReplay): 1 to 64
	// letters, digits and dashes (a UUID).
	ID string `json:"id"`
	// Subscription is the dead-letter subscription to replay.
	Subscription string `json:"subscription"`
	// IDs are the messages to replay; empty replays every message, up to
	// Max.
	IDs []string `json:"ids,omitempty"`
	// Max bounds the messages examined (1..MaxLimit).
	Max int `json:"max"`
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Validate reports what is wrong with r.
func (r ReplayRequest) Validate() error {
	switch {
	case !requestIDRE.MatchString(r.ID):
		return fmt.Errorf("id %q is not 1 to 64 letters, digits and dashes", r.ID)
	case r.Subscription == "":
		return errors.New("subscription is empty")
	case r.Max < 1 || r.Max > MaxLimit:
		return fmt.Errorf("max must be 1..%d, got %d", MaxLimit, r.Max)
	case len(r.IDs) > MaxLimit:
		return fmt.Errorf("at most %d ids, got %d", MaxLimit, len(r.IDs))
	}
	for i, id := range r.IDs {
		if id == "" {
			return fmt.Errorf("ids[%d] is empty", i)
		}
	}
	return nil
}

// Encode returns r as the data of an aiprod-dlq-replay message; r must be
// valid.
func (r ReplayRequest) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("deadletter: replay request: %w", err)
	}
	return json.Marshal(r)
}

// DecodeReplayRequest reads the data of an aiprod-dlq-replay message:
// exactly one JSON object with ReplayRequest's fields and no others, valid.
func DecodeReplayRequest(data []byte) (ReplayRequest, error) {
	var r ReplayRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return ReplayRequest{}, fmt.Errorf("deadletter: replay request: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ReplayRequest{}, errors.New("deadletter: replay request: trailing data")
	}
	if err := r.Validate(); err != nil {
		return ReplayRequest{}, fmt.Errorf("deadletter: replay request: %w", err)
	}
	return r, nil
}
