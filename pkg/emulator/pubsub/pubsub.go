// Package pubsubemu serves the Pub/Sub emulator that ships with the official
// client (cloud.google.com/go/pubsub/v2/pstest) on an address, for the dev
// stack, the tests and `aiprod emulators`.
//
// Server.Queue connects the production queue (gcppubsub) to it, for tests
// that run code over queue ports against the emulator.
//
// It adds two things pstest lacks for a stack whose processes get killed:
//
//   - an error instead of a panic when the address cannot be listened on;
//   - keep-alive pings answered outside pstest. pstest (v2.9.0,
//     (*subscription).handleStreamingPullRequest) answers a StreamingPull
//     keep-alive with a blocking send on the stream's unbuffered delivery
//     channel while holding the server-wide mutex. When that stream's sender
//     is stalled (its client stopped reading, or was SIGKILLed and the
//     connection is not yet torn down) every Publish, Ack and StreamingPull
//     of every subscription waits forever. Here the pstest handlers are
//     served by our own gRPC server whose stream interceptor takes the pings
//     off the stream before pstest sees them and answers them itself, on a
//     goroutine, serialised with pstest's own sends.
package pubsubemu

import (
	"context"
	"fmt"
	"net"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
)

// Server is a running emulator.
type Server struct {
	// Addr is the address to use as PUBSUB_EMULATOR_HOST.
	Addr string
	// Fake is the pstest state behind the server, for tests that inspect
	// messages or set reactors.
	Fake *pstest.Server

	gsrv *grpc.Server
	lis  net.Listener
	done chan struct{}
}

// Serve starts the emulator on addr ("127.0.0.1:0" picks a free port). The
// caller closes it.
func Serve(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pubsub emulator on %s: %w", addr, err)
	}
	// pstest insists on serving on a listener of its own; it is left
	// unused on a loopback port and closed with the server.
	fake, err := newFake()
	if err != nil {
		lis.Close()
		return nil, err
	}
	gsrv := grpc.NewServer(grpc.StreamInterceptor(answerKeepAlives))
	pubsubpb.RegisterPublisherServer(gsrv, &fake.GServer)
	pubsubpb.RegisterSubscriberServer(gsrv, &fake.GServer)
	pubsubpb.RegisterSchemaServiceServer(gsrv, &fake.GServer)
	s := &Server{Addr: lis.Addr().String(), Fake: fake, gsrv: gsrv, lis: lis, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = gsrv.Serve(lis)
	}()
	return s, nil
}

func newFake() (srv *pstest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("pubsub emulator: %v", r)
		}
	}()
	return pstest.NewServerWithAddress("127.0.0.1:0"), nil
}

// Queue connects the production queue, a gcppubsub.Queue, to the emulator
// in project projectID, without credentials. The caller closes it, before
// the Server.
func (s *Server) Queue(ctx context.Context, projectID string) (*gcppubsub.Queue, error) {
	return gcppubsub.New(ctx, projectID, option.WithEndpoint(s.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// Close stops serving and releases the emulator's state.
func (s *Server) Close() error {
	s.gsrv.Stop()
	<-s.done
	return s.Fake.Close()
}

const streamingPull = "/google.pubsub.v1.Subscriber/StreamingPull"

// answerKeepAlives wraps StreamingPull streams; every other call passes
// through untouched.
func answerKeepAlives(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != streamingPull {
		return handler(srv, ss)
	}
	ps := &pingStream{ServerStream: ss}
	defer ps.close()
	return handler(srv, ps)
}

// pingStream is a StreamingPull server stream that answers keep-alive pings
// itself. The first request opens the stream and is always passed on; after
// it, a request with no acks and no deadline changes is a ping (that is how
// the client library and pstest both tell them apart).
type pingStream struct {
	grpc.ServerStream

	sendMu sync.Mutex // one sender at a time: pstest's send loop or a ping answer
	closed bool       // under sendMu: the handler returned, answer no more pings
	opened bool       // the opening request was passed on
}

// close stops ping answers once the handler has returned. An answer already
// blocked in SendMsg (a stalled client) returns when gRPC ends the stream,
// as pstest's own send loop does.
func (p *pingStream) close() {
	go func() {
		p.sendMu.Lock()
		p.closed = true
		p.sendMu.Unlock()
	}()
}

func (p *pingStream) SendMsg(m any) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.ServerStream.SendMsg(m)
}

func (p *pingStream) RecvMsg(m any) error {
	for {
		if err := p.ServerStream.RecvMsg(m); err != nil {
			return err
		}
		req, ok := m.(*pubsubpb.StreamingPullRequest)
		if !ok || !p.opened {
			p.opened = true
			return nil
		}
		if !isPing(req) {
			return nil
		}
		p.answer(p.Context())
	}
}

// answer replies to a ping without blocking the receive side: if pstest's
// send loop is stuck on a stalled client the reply waits behind it, and
// ends with the stream.
func (p *pingStream) answer(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	go func() {
		p.sendMu.Lock()
		defer p.sendMu.Unlock()
		if !p.closed {
			_ = p.ServerStream.SendMsg(&pubsubpb.StreamingPullResponse{})
		}
	}()
}

// isPing is pstest's own test for a keep-alive (it also ignores the stream
// ack deadline of such a request), so nothing pstest would act on is
// swallowed here.
func isPing(req *pubsubpb.StreamingPullRequest) bool {
	return len(req.GetAckIds()) == 0 && len(req.GetModifyDeadlineAckIds()) == 0
}
