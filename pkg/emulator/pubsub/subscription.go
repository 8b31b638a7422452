package pubsubemu

import (
	"container/heap"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// subscription is one subscription's delivery state, under its own lock:
// no operation on one subscription waits for another's.
type subscription struct {
	name  string
	gen   uint64 // distinguishes ack ids of a deleted and recreated subscription
	state *state
	topic *topic // the topic it was created on (it may have been deleted since)

	mu      sync.Mutex
	proto   *pubsubpb.Subscription // as GetSubscription shows it
	cfg     subConfig
	gone    bool // deleted, or the server closed
	held    map[uint64]*held
	seq     uint64
	ready   readyList
	due     dueHeap
	leased  int
	backoff int
	timer   *time.Timer
	timerAt time.Time // when timer fires; zero when it is not armed
	streams []*stream
	rr      int // round-robin position in streams
	pulls   []*pullWaiter
}

// delivery is one lease of a message, as sent to a receiver.
type delivery struct {
	h       *held
	attempt int32
	rm      *pubsubpb.ReceivedMessage
}

// effects are what a change under a subscription's lock asks of other
// subscriptions, done after the lock is released: dead letters to publish.
type effects struct {
	deadLetters map[*topic][]*pubsubpb.PubsubMessage
}

func (fx *effects) deadLetter(t *topic, m *pubsubpb.PubsubMessage) {
	if fx.deadLetters == nil {
		fx.deadLetters = map[*topic][]*pubsubpb.PubsubMessage{}
	}
	fx.deadLetters[t] = append(fx.deadLetters[t], m)
}

func newSubscription(st *state, t *topic, p *pubsubpb.Subscription, cfg subConfig) *subscription {
	return &subscription{
		name: p.Name, gen: st.gens.Add(1), state: st, topic: t,
		proto: p, cfg: cfg, held: map[uint64]*held{},
	}
}

// enqueue holds newly published messages (sizes[i] is msgs[i]'s size) and
// delivers what it can.
func (s *subscription) enqueue(msgs []*pubsubpb.PubsubMessage, sizes []int64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return
	}
	for i, m := range msgs {
		if !s.cfg.filter.Match(m.Attributes) {
			continue // as Pub/Sub: acknowledged for this subscription at once
		}
		s.seq++
		h := &held{msg: m, size: sizes[i], seq: s.seq, expires: now.Add(s.cfg.retention)}
		h.due = h.expires
		s.held[h.seq] = h
		s.setState(h, stateReady)
		heap.Push(&s.due, h)
	}
	s.afterLocked(now)
}

// setState moves h to state to, keeping the ready list, the counts and
// the flow control of h's stream in step.
func (s *subscription) setState(h *held, to heldState) {
	switch h.state {
	case stateReady:
		s.ready.remove(h)
	case stateLeased:
		s.leased--
		if h.owner != nil {
			h.owner.outMsgs--
			h.owner.outBytes -= h.size
			h.owner = nil
		}
	case stateBackoff:
		s.backoff--
	}
	h.state = to
	switch to {
	case stateReady:
		s.ready.pushBack(h)
	case stateLeased:
		s.leased++
	case stateBackoff:
		s.backoff++
	}
}

// removeLocked forgets h: acked, dead-lettered or past retention.
func (s *subscription) removeLocked(h *held) {
	s.setState(h, stateNone)
	heap.Remove(&s.due, h.heapIdx)
	delete(s.held, h.seq)
}

// afterLocked delivers what it can and sets the timer for the next due
// message; every change ends with it.
func (s *subscription) afterLocked(now time.Time) {
	s.dispatchLocked(now)
	s.armLocked(now)
}

// dispatchLocked leases ready messages, oldest first, to waiting Pulls and
// then, round-robin, to streams with room under their flow control.
func (s *subscription) dispatchLocked(now time.Time) {
	for s.ready.head != nil {
		if w := s.pullWithRoom(); w != nil {
			w.add(s.leaseLocked(s.ready.head, nil, s.cfg.ackDeadline, now))
			continue
		}
		st := s.streamWithRoom()
		if st == nil {
			return
		}
		st.push(s.leaseLocked(s.ready.head, st, st.ackDeadline(), now))
	}
}

func (s *subscription) pullWithRoom() *pullWaiter {
	for _, w := range s.pulls {
		if w.hasRoom() {
			return w
		}
	}
	return nil
}

func (s *subscription) streamWithRoom() *stream {
	n := len(s.streams)
	for i := range n {
		st := s.streams[(s.rr+i)%n]
		if st.hasRoom() {
			s.rr = (s.rr + i + 1) % n
			return st
		}
	}
	return nil
}

// leaseLocked delivers h to owner (nil for a Pull) for lease.
func (s *subscription) leaseLocked(h *held, owner *stream, lease time.Duration, now time.Time) delivery {
	s.setState(h, stateLeased)
	h.attempts++
	h.expired = false
	if owner != nil {
		h.owner = owner
		owner.outMsgs++
		owner.outBytes += h.size
	}
	s.due.setDue(h, now.Add(lease))
	rm := &pubsubpb.ReceivedMessage{AckId: s.ackID(h), Message: h.msg}
	if s.cfg.deadLetterTopic != "" {
		rm.DeliveryAttempt = h.attempts // Pub/Sub sets it only with a dead-letter policy
	}
	return delivery{h: h, attempt: h.attempts, rm: rm}
}

// unleaseLocked takes back a delivery that never reached its receiver (a
// stream that closed before sending it, a Pull whose caller left): the
// message is first in line again and the delivery does not count.
func (s *subscription) unleaseLocked(d delivery) {
	h := d.h
	if s.held[h.seq] != h || h.state != stateLeased || h.attempts != d.attempt {
		return
	}
	s.setState(h, stateReady)
	s.ready.remove(h)
	s.ready.pushFront(h)
	h.attempts--
	s.due.setDue(h, h.expires)
}

// failLocked ends h's delivery unsuccessfully (nacked, or expired when
// expired is set): dead-lettered after the max delivery attempts, dropped
// past retention, else delivered again after the retry policy's backoff or
// at once.
func (s *subscription) failLocked(h *held, now time.Time, expired bool, fx *effects) {
	s.setState(h, stateNone)
	h.expired = expired
	if s.cfg.deadLetterTopic != "" && h.attempts >= s.cfg.maxAttempts {
		if t := s.state.topic(s.cfg.deadLetterTopic); t != nil {
			fx.deadLetter(t, deadLetterCopy(h, s.name))
			s.removeLocked(h)
			return
		} // no dead-letter topic (deleted): Pub/Sub keeps the message
	}
	if !now.Before(h.expires) {
		s.removeLocked(h)
		return
	}
	if s.cfg.retry {
		if d := s.cfg.backoff(h.attempts); d > 0 {
			s.setState(h, stateBackoff)
			s.due.setDue(h, now.Add(d))
			return
		}
	}
	s.setState(h, stateReady)
	s.due.setDue(h, h.expires)
}

// Dead-letter attributes, as Pub/Sub adds them.
const (
	attrDLDeliveryCount = "CloudPubSubDeadLetterSourceDeliveryCount"
	attrDLSubscription  = "CloudPubSubDeadLetterSourceSubscription"
	attrDLProject       = "CloudPubSubDeadLetterSourceSubscriptionProject"
	attrDLPublishTime   = "CloudPubSubDeadLetterSourceTopicPublishTime"
)

// deadLetterCopy is the message Pub/Sub publishes to the dead-letter topic
// for h: its data and attributes plus where and how often it failed.
func deadLetterCopy(h *held, sub string) *pubsubpb.PubsubMessage {
	attrs := make(map[string]string, len(h.msg.Attributes)+4)
	for k, v := range h.msg.Attributes {
		attrs[k] = v
	}
	parts := strings.Split(sub, "/")
	attrs[attrDLDeliveryCount] = strconv.Itoa(int(h.attempts))
	attrs[attrDLSubscription] = parts[3]
	attrs[attrDLProject] = parts[1]
	attrs[attrDLPublishTime] = h.msg.PublishTime.AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
	return &pubsubpb.PubsubMessage{Data: h.msg.Data, Attributes: attrs, OrderingKey: h.msg.OrderingKey}
}

// fire is the timer's callback: it processes every message now due.
func (s *subscription) fire() {
	now := s.state.now()
	var fx effects
	s.mu.Lock()
	s.timerAt = time.Time{}
	if !s.gone {
		s.expireLocked(now, &fx)
		s.afterLocked(now)
	}
	s.mu.Unlock()
	s.state.apply(fx)
}

// expireLocked processes the messages due by now: leases that ran out,
// backoffs that ended, messages past retention.
func (s *subscription) expireLocked(now time.Time, fx *effects) {
	for len(s.due) > 0 && !s.due[0].due.After(now) {
		h := s.due[0]
		switch {
		case h.state == stateLeased:
			s.failLocked(h, now, true, fx)
		case !now.Before(h.expires):
			s.removeLocked(h)
		default: // a backoff ended
			s.setState(h, stateReady)
			s.due.setDue(h, h.expires)
		}
	}
}

// armLocked sets the timer for the first due message, unless it is set
// for that time or earlier already (firing early is harmless: fire finds
// nothing due and sets it again).
func (s *subscription) armLocked(now time.Time) {
	if s.gone || len(s.due) == 0 {
		return
	}
	top := s.due[0].due
	if !s.timerAt.IsZero() && !top.Before(s.timerAt) {
		return
	}
	s.timerAt = top
	if s.timer == nil {
		s.timer = time.AfterFunc(top.Sub(now), s.fire)
		return
	}
	s.timer.Reset(top.Sub(now))
}

// ackRef is a parsed ack id: subscription generation, message, delivery.
type ackRef struct {
	gen, seq uint64
	attempt  int32
}

func (s *subscription) ackID(h *held) string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, s.gen, 36)
	b = append(b, '-')
	b = strconv.AppendUint(b, h.seq, 36)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(h.attempts), 36)
	return string(b)
}

func parseAckIDs(ids []string) ([]ackRef, error) {
	out := make([]ackRef, len(ids))
	for i, id := range ids {
		g, rest, ok1 := strings.Cut(id, "-")
		q, a, ok2 := strings.Cut(rest, "-")
		gen, err1 := strconv.ParseUint(g, 36, 64)
		seq, err2 := strconv.ParseUint(q, 36, 64)
		att, err3 := strconv.ParseInt(a, 36, 32)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid ack id %q", id)
		}
		out[i] = ackRef{gen: gen, seq: seq, attempt: int32(att)}
	}
	return out, nil
}

// find returns the held message of the current delivery ref names, or nil.
func (s *subscription) find(ref ackRef) *held {
	h := s.held[ref.seq]
	if h == nil || ref.gen != s.gen || h.attempts != ref.attempt {
		return nil
	}
	return h
}

// ack removes the messages of refs: those leased, and those whose lease
// expired and that were not delivered again yet.
func (s *subscription) ack(refs []ackRef) error {
	now := s.state.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return s.notFound()
	}
	for _, r := range refs {
		if h := s.find(r); h != nil && (h.state == stateLeased || h.expired) {
			s.removeLocked(h)
		}
	}
	s.afterLocked(now)
	return nil
}

// modify sets the leases of refs to end secs from now; 0 nacks them. A
// delivery that already ended is left alone.
func (s *subscription) modify(refs []ackRef, secs int32) error {
	now := s.state.now()
	var fx effects
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return s.notFound()
	}
	for _, r := range refs {
		h := s.find(r)
		switch {
		case h == nil || h.state != stateLeased:
		case secs == 0:
			s.failLocked(h, now, false, &fx)
		case !h.due.After(now): // expired, the timer has not run yet
			s.failLocked(h, now, true, &fx)
		default:
			s.due.setDue(h, now.Add(time.Duration(secs)*time.Second))
		}
	}
	s.afterLocked(now)
	s.mu.Unlock()
	s.state.apply(fx)
	return nil
}

func (s *subscription) notFound() error {
	return status.Errorf(codes.NotFound, "subscription %s not found", s.name)
}

// close ends the subscription: deleted, or the server closes. What it
// holds is freed; streams on it end with NotFound.
func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.held, s.due, s.ready, s.leased, s.backoff = nil, nil, readyList{}, 0, 0
	for _, st := range s.streams {
		st.end(s.notFound())
	}
	s.streams = nil
	for _, w := range s.pulls {
		w.wakeUp()
	}
}

// snapshot returns a copy of the subscription's configuration.
func (s *subscription) snapshot() *pubsubpb.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.proto).(*pubsubpb.Subscription)
}

// Stats counts what a subscription holds.
type Stats struct {
	Held    int // every message not yet acked, dead-lettered or past retention
	Ready   int // waiting for a receiver
	Leased  int // delivered, not yet settled
	Backoff int // failed, waiting for the retry policy's backoff to end
	Streams int // open StreamingPull streams
}

func (s *subscription) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Held: len(s.held), Ready: s.ready.n, Leased: s.leased, Backoff: s.backoff, Streams: len(s.streams)}
}
