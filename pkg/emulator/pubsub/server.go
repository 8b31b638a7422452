package pubsubemu

import (
	"context"
	"fmt"
	"net"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
)

// maxRecvBytes admits Pub/Sub's largest publish request (10 MB) with room
// for its framing.
const maxRecvBytes = 20 << 20

// Server is a running emulator.
type Server struct {
	// Addr is the address to use as PUBSUB_EMULATOR_HOST.
	Addr string

	st   *state
	gsrv *grpc.Server
	done chan struct{}
}

// Serve starts the emulator on addr ("127.0.0.1:0" picks a free port). An
// address that cannot be listened on is an error. The caller closes it.
func Serve(addr string) (*Server, error) { return serve(addr, time.Now) }

func serve(addr string, now func() time.Time) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pubsub emulator on %s: %w", addr, err)
	}
	st := newState(now)
	gsrv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecvBytes))
	pubsubpb.RegisterPublisherServer(gsrv, &publisherServer{st: st})
	pubsubpb.RegisterSubscriberServer(gsrv, &subscriberServer{st: st})
	s := &Server{Addr: lis.Addr().String(), st: st, gsrv: gsrv, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = gsrv.Serve(lis)
	}()
	return s, nil
}

// Queue connects the production queue, a gcppubsub.Queue, to the emulator
// in project projectID, without credentials. The caller closes it, before
// the Server.
func (s *Server) Queue(ctx context.Context, projectID string) (*gcppubsub.Queue, error) {
	return gcppubsub.New(ctx, projectID, clientOptions(s.Addr)...)
}

// clientOptions connect a client library to the emulator at addr.
func clientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}

// Stats counts what subscription (a full name,
// projects/<project>/subscriptions/<id>) holds; false when it does not
// exist.
func (s *Server) Stats(subscription string) (Stats, bool) {
	sub, err := s.st.subscription(subscription)
	if err != nil {
		return Stats{}, false
	}
	return sub.stats(), true
}

// Close stops serving (open streams and calls end) and releases
// everything the emulator holds.
func (s *Server) Close() error {
	s.gsrv.Stop()
	<-s.done
	s.st.close()
	return nil
}
