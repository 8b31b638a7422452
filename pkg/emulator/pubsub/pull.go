package pubsubemu

import (
	"context"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// PullWait is how long a unary Pull with nothing to return waits for a
// message before it answers none (as long as pstest, the emulator this
// package replaced, waited).
const PullWait = 500 * time.Millisecond

// pullMaxMessages is the most one Pull returns.
const pullMaxMessages = 1000

// pullWaiter is a Pull waiting for messages; dispatch leases them to it.
type pullWaiter struct {
	max   int
	bytes int64 // of got
	got   []delivery
	wake  chan struct{}
	woken bool
}

// hasRoom reports whether the Pull takes one more message: up to max, and
// up to a response's size (at least one message).
func (w *pullWaiter) hasRoom() bool { return len(w.got) < w.max && w.bytes < responseMaxBytes }

func (w *pullWaiter) add(d delivery) {
	w.got = append(w.got, d)
	w.bytes += d.h.size
	w.wakeUp()
}

func (w *pullWaiter) wakeUp() {
	if !w.woken {
		w.woken = true
		close(w.wake)
	}
}

// pull leases up to max messages for the subscription's ack deadline,
// waiting up to wait for a first one. When ctx ends first, what was leased
// to it is taken back.
func (s *subscription) pull(ctx context.Context, max int, wait time.Duration) ([]*pubsubpb.ReceivedMessage, error) {
	w := &pullWaiter{max: max, wake: make(chan struct{})}
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return nil, s.notFound()
	}
	s.pulls = append(s.pulls, w)
	s.afterLocked(s.state.now())
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-w.wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.pulls {
		if x == w {
			s.pulls = append(s.pulls[:i:i], s.pulls[i+1:]...)
			break
		}
	}
	if err := ctx.Err(); err != nil {
		for i := len(w.got) - 1; i >= 0; i-- {
			s.unleaseLocked(w.got[i])
		}
		if !s.gone {
			s.afterLocked(s.state.now())
		}
		return nil, status.FromContextError(err).Err()
	}
	out := make([]*pubsubpb.ReceivedMessage, len(w.got))
	for i, d := range w.got {
		out[i] = d.rm
	}
	return out, nil
}

// Pull leases up to max_messages messages; see pull.
func (g *subscriberServer) Pull(ctx context.Context, req *pubsubpb.PullRequest) (*pubsubpb.PullResponse, error) {
	if req.GetMaxMessages() <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_messages must be positive, got %d", req.GetMaxMessages())
	}
	s, err := g.st.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	wait := PullWait
	if req.GetReturnImmediately() { //nolint:staticcheck // deprecated for clients; an emulator still honours it
		wait = 0
	}
	rms, err := s.pull(ctx, int(min(req.GetMaxMessages(), pullMaxMessages)), wait)
	if err != nil {
		return nil, err
	}
	return &pubsubpb.PullResponse{ReceivedMessages: rms}, nil
}

// Acknowledge removes the messages of current deliveries; ack ids of
// deliveries that already ended are ignored.
func (g *subscriberServer) Acknowledge(_ context.Context, req *pubsubpb.AcknowledgeRequest) (*emptypb.Empty, error) {
	s, err := g.st.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	if err := g.acknowledge(s, req.GetAckIds()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (g *subscriberServer) acknowledge(s *subscription, ids []string) error {
	refs, err := parseAckIDs(ids)
	if err != nil {
		return err
	}
	return s.ack(refs)
}

// ModifyAckDeadline sets the leases of current deliveries to end
// ack_deadline_seconds from now; 0 nacks them.
func (g *subscriberServer) ModifyAckDeadline(_ context.Context, req *pubsubpb.ModifyAckDeadlineRequest) (*emptypb.Empty, error) {
	s, err := g.st.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	if err := g.modifyAckDeadline(s, req.GetAckIds(), req.GetAckDeadlineSeconds()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (g *subscriberServer) modifyAckDeadline(s *subscription, ids []string, secs int32) error {
	if secs < 0 || time.Duration(secs)*time.Second > ackDeadlineMax {
		return status.Errorf(codes.InvalidArgument, "ack_deadline_seconds %d is not in [0, 600]", secs)
	}
	refs, err := parseAckIDs(ids)
	if err != nil {
		return err
	}
	return s.modify(refs, secs)
}
