package pubsubemu

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Flow control of a stream whose client sets none, and the most one
// response carries.
const (
	streamMaxMessagesDefault = 1000
	streamMaxBytesDefault    = 100 << 20
	responseMaxMessages      = 1000
	responseMaxBytes         = 10 << 20
)

// stream is one StreamingPull stream. Deliveries are queued to it under
// its subscription's lock and sent by its own sender goroutine, so a client
// that stops reading stalls nothing but its own stream: its leases run out
// and its messages go to others.
type stream struct {
	// Under the subscription's lock: the client's flow control and what
	// this stream holds of it (sent or queued, not yet settled).
	maxMsgs, maxBytes int64
	outMsgs, outBytes int64
	closed            bool

	deadline atomic.Int64 // the stream's ack deadline: each delivery's first lease

	mu      sync.Mutex // taken under the subscription's lock, never the reverse
	pending []delivery // leased to this stream, not yet handed to gRPC
	ping    bool       // a keep-alive to answer
	err     error      // why the server ended the stream
	wake    chan struct{}
	ended   chan struct{} // closed when the server ends the stream
}

func newStream(first *pubsubpb.StreamingPullRequest) (*stream, error) {
	st := &stream{
		maxMsgs: first.GetMaxOutstandingMessages(), maxBytes: first.GetMaxOutstandingBytes(),
		wake: make(chan struct{}, 1), ended: make(chan struct{}),
	}
	if st.maxMsgs <= 0 {
		st.maxMsgs = streamMaxMessagesDefault
	}
	if st.maxBytes <= 0 {
		st.maxBytes = streamMaxBytesDefault
	}
	if err := st.setDeadline(first.GetStreamAckDeadlineSeconds()); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *stream) setDeadline(secs int32) error {
	d := time.Duration(secs) * time.Second
	if d < ackDeadlineMin || d > ackDeadlineMax {
		return status.Errorf(codes.InvalidArgument, "stream_ack_deadline_seconds %d is not in [10, 600]", secs)
	}
	st.deadline.Store(int64(d))
	return nil
}

func (st *stream) ackDeadline() time.Duration { return time.Duration(st.deadline.Load()) }

// hasRoom reports whether the client's flow control lets one more message
// through (under the subscription's lock).
func (st *stream) hasRoom() bool {
	return !st.closed && st.outMsgs < st.maxMsgs && st.outBytes < st.maxBytes
}

// push queues d for the sender.
func (st *stream) push(d delivery) {
	st.mu.Lock()
	st.pending = append(st.pending, d)
	st.mu.Unlock()
	st.signal()
}

func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// answerPing has the sender answer a keep-alive; the receive side never
// waits for it.
func (st *stream) answerPing() {
	st.mu.Lock()
	st.ping = true
	st.mu.Unlock()
	st.signal()
}

// end closes the stream from the server's side, with err (under the
// subscription's lock).
func (st *stream) end(err error) {
	st.closed = true
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil {
		st.err = err
		close(st.ended)
	}
}

// drain takes what was never handed to gRPC.
func (st *stream) drain() []delivery {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.pending
	st.pending = nil
	return out
}

// next takes the next response to send: queued messages, up to the
// response limits, or the answer to a keep-alive.
func (st *stream) next() (*pubsubpb.StreamingPullResponse, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.pending) == 0 {
		if !st.ping {
			return nil, false
		}
		st.ping = false
		return &pubsubpb.StreamingPullResponse{}, true
	}
	var size int64
	n := 0
	for n < len(st.pending) && n < responseMaxMessages && (n == 0 || size+st.pending[n].h.size <= responseMaxBytes) {
		size += st.pending[n].h.size
		n++
	}
	res := &pubsubpb.StreamingPullResponse{ReceivedMessages: make([]*pubsubpb.ReceivedMessage, n)}
	for i, d := range st.pending[:n] {
		res.ReceivedMessages[i] = d.rm
	}
	clear(st.pending[:n])
	if n == len(st.pending) {
		st.pending = st.pending[:0]
	} else {
		st.pending = append([]delivery(nil), st.pending[n:]...)
	}
	st.ping = false // any response answers a keep-alive
	return res, true
}

// sendLoop sends what is queued until ctx ends or a send fails.
func (st *stream) sendLoop(ctx context.Context, ss pubsubpb.Subscriber_StreamingPullServer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		}
		for res, ok := st.next(); ok; res, ok = st.next() {
			if err := ss.Send(res); err != nil {
				return
			}
		}
	}
}

// StreamingPull serves one stream: the first request names the
// subscription and the client's flow control; later ones carry acks, ack
// deadline changes and keep-alives. Messages go out on a goroutine of
// the stream's own.
func (g *subscriberServer) StreamingPull(ss pubsubpb.Subscriber_StreamingPullServer) error {
	first, err := ss.Recv()
	if err != nil {
		return err
	}
	s, err := g.st.subscription(first.GetSubscription())
	if err != nil {
		return err
	}
	st, err := newStream(first)
	if err != nil {
		return err
	}
	if err := g.handle(s, st, first, false); err != nil {
		return err
	}
	if err := s.attach(st); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ss.Context())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		st.sendLoop(ctx, ss)
	}()
	recvd := make(chan error, 1)
	go func() { recvd <- g.recvLoop(s, st, ss) }()
	select {
	case err = <-recvd:
	case <-st.ended:
		err = st.err
	}
	s.detach(st)
	cancel()
	select {
	case <-sent:
	case <-ss.Context().Done(): // a send blocked on a gone client returns with the stream
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (g *subscriberServer) recvLoop(s *subscription, st *stream, ss pubsubpb.Subscriber_StreamingPullServer) error {
	for {
		req, err := ss.Recv()
		if err != nil {
			return err
		}
		if err := g.handle(s, st, req, true); err != nil {
			return err
		}
	}
}

// handle applies one request of a stream. A later request without acks and
// deadline changes is a keep-alive (it may carry a new stream ack
// deadline), answered with an empty response.
func (g *subscriberServer) handle(s *subscription, st *stream, req *pubsubpb.StreamingPullRequest, later bool) error {
	if secs := req.GetStreamAckDeadlineSeconds(); later && secs != 0 {
		if err := st.setDeadline(secs); err != nil {
			return err
		}
	}
	ids, secs := req.GetModifyDeadlineAckIds(), req.GetModifyDeadlineSeconds()
	if len(ids) != len(secs) {
		return status.Errorf(codes.InvalidArgument, "%d modify_deadline_ack_ids but %d modify_deadline_seconds", len(ids), len(secs))
	}
	if len(req.GetAckIds()) > 0 {
		if err := g.acknowledge(s, req.GetAckIds()); err != nil {
			return err
		}
	}
	bySecs := map[int32][]string{}
	for i, id := range ids {
		bySecs[secs[i]] = append(bySecs[secs[i]], id)
	}
	for d, ids := range bySecs {
		if err := g.modifyAckDeadline(s, ids, d); err != nil {
			return err
		}
	}
	if later && len(ids) == 0 && len(req.GetAckIds()) == 0 {
		st.answerPing()
	}
	return nil
}

// attach adds a stream to the subscription and gives it what is ready.
func (s *subscription) attach(st *stream) error {
	now := s.state.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return s.notFound()
	}
	s.streams = append(s.streams, st)
	s.afterLocked(now)
	return nil
}

// detach removes a stream that ended. What it never sent is first in line
// again; what it sent stays leased until acked, nacked or expired, as on
// Pub/Sub.
func (s *subscription) detach(st *stream) {
	now := s.state.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.closed = true
	for i, x := range s.streams {
		if x == st {
			s.streams = append(s.streams[:i:i], s.streams[i+1:]...)
			break
		}
	}
	unsent := st.drain()
	for i := len(unsent) - 1; i >= 0; i-- {
		s.unleaseLocked(unsent[i])
	}
	if !s.gone {
		s.afterLocked(now)
	}
}
