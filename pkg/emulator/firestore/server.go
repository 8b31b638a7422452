package firestoreemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DefaultAddr is where NewServer listens: a free port on the loopback
// interface.
const DefaultAddr = "127.0.0.1:0"

// maxMessageBytes bounds request sizes (Firestore allows 10 MiB per
// request).
const maxMessageBytes = 32 << 20

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	st        *store
	grpc      *grpc.Server
	lis       net.Listener
	served    chan struct{} // closed when grpc.Serve returns
	stopPrune chan struct{} // closed by Close: ends the pruner
	closeOnce sync.Once
}

// service implements the google.firestore.v1.Firestore gRPC service.
// RPCs it does not implement (Listen, Write, ExecutePipeline) answer
// Unimplemented.
type service struct {
	pb.UnimplementedFirestoreServer
	st *store
}

// Listen (real-time updates) is not implemented. It reads the client's
// first request before answering Unimplemented, so that the client reliably
// sees that status rather than a broken stream.
func (s *service) Listen(stream pb.Firestore_ListenServer) error {
	_, _ = stream.Recv()
	return status.Error(codes.Unimplemented, "Listen (real-time updates) is not supported by the emulator")
}

// Option configures a Server.
type Option func(*store)

// Optimistic makes read-write transactions optimistic, as in a Firestore
// database whose concurrency mode is OPTIMISTIC: reads take no locks, so
// contending transactions all run and all but one abort at commit (the
// validation every transaction gets), and the client retries them. The
// default is PESSIMISTIC, Firestore's default and what AIPROD's Terraform
// sets. Benchmarks use it to show contention on a document as retries.
func Optimistic() Option {
	return func(st *store) { st.optimistic = true }
}

// Retention sets how long superseded document versions are kept for reads
// at a past time (read-only transactions, read_time): an hour by default,
// as Firestore keeps them. Versions are memory: a long soak on the dev
// stack, where nothing reads in the past, wants DevRetention.
func Retention(d time.Duration) Option {
	return func(st *store) { st.retention = d }
}

// DevRetention is the version retention of the dev stack (`aiprod
// emulators`, package devstack): nothing in AIPROD reads at a past time,
// and an hour of versions of 10,000 jobs' documents takes gigabytes.
const DevRetention = time.Minute

// NewServer starts an emulator on a free port of 127.0.0.1. Close it when
// done.
func NewServer(opts ...Option) (*Server, error) {
	return NewServerAt(DefaultAddr, opts...)
}

// NewServerAt starts an emulator listening on addr (host:port; port 0 picks
// a free one). Close it when done.
func NewServerAt(addr string, opts ...Option) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("firestore emulator: listen on %s: %w", addr, err)
	}
	st := newStore()
	for _, o := range opts {
		o(st)
	}
	s := &Server{
		st:        st,
		grpc:      grpc.NewServer(grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes)),
		lis:       lis,
		served:    make(chan struct{}),
		stopPrune: make(chan struct{}),
	}
	pb.RegisterFirestoreServer(s.grpc, &service{st: s.st})
	go func() {
		defer close(s.served)
		_ = s.grpc.Serve(lis) // returns when Close stops the server
	}()
	go s.prune()
	return s, nil
}

// prune drops versions older than the retention from every document, every
// half retention, until Close.
func (s *Server) prune() {
	t := time.NewTicker(max(s.st.retention/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stopPrune:
			return
		case <-t.C:
			s.st.pruneAll()
		}
	}
}

// Serve starts an emulator on addr that stops when ctx ends (or when Close
// is called). It is the entry point for command-line wiring.
func Serve(ctx context.Context, addr string) (*Server, error) {
	s, err := NewServerAt(addr)
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.served:
		}
	}()
	return s, nil
}

// Addr returns the host:port the emulator listens on, the value for
// FIRESTORE_EMULATOR_HOST.
func (s *Server) Addr() string {
	return s.lis.Addr().String()
}

// Close stops the emulator: open streams and waiting requests are cancelled
// and the data is dropped. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopPrune)
		s.grpc.Stop()
		<-s.served
		s.st.reset()
	})
	return nil
}

// Reset drops every document of every project and database and aborts
// every open transaction, so that a test starts from an empty emulator.
func (s *Server) Reset() {
	s.st.reset()
}

// Client returns a client of the official library connected to this
// emulator, for the default database of projectID. It works whether or not
// FIRESTORE_EMULATOR_HOST is set. Close the client when done.
func (s *Server) Client(ctx context.Context, projectID string) (*firestore.Client, error) {
	return s.ClientWithDatabase(ctx, projectID, firestore.DefaultDatabaseID)
}

// ClientWithDatabase is Client for a named database.
func (s *Server) ClientWithDatabase(ctx context.Context, projectID, databaseID string) (*firestore.Client, error) {
	return s.client(ctx, projectID, databaseID)
}

// ClientWithDialOptions is Client with more options for its gRPC
// connection: interceptors that count requests or add network latency, for
// benchmarks.
func (s *Server) ClientWithDialOptions(ctx context.Context, projectID string, opts ...grpc.DialOption) (*firestore.Client, error) {
	return s.client(ctx, projectID, firestore.DefaultDatabaseID, opts...)
}

func (s *Server) client(ctx context.Context, projectID, databaseID string, opts ...grpc.DialOption) (*firestore.Client, error) {
	if projectID == "" {
		return nil, errors.New("firestore emulator: empty project ID")
	}
	conn, err := grpc.NewClient("passthrough:///"+s.Addr(), append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("firestore emulator: dial %s: %w", s.Addr(), err)
	}
	// The client owns conn: Client.Close closes it.
	var c *firestore.Client
	if databaseID == firestore.DefaultDatabaseID {
		c, err = firestore.NewClient(ctx, projectID, option.WithGRPCConn(conn))
	} else {
		c, err = firestore.NewClientWithDatabase(ctx, projectID, databaseID, option.WithGRPCConn(conn))
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("firestore emulator: new client for %s: %w", projectID, err)
	}
	return c, nil
}
