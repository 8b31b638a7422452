package bench_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/firestorestore"
)

// BenchmarkStoreOpsPerJob counts what a job costs in Firestore operations
// and queue publishes, through the whole pipeline (the API's POST /v1/jobs,
// router, worker; instant backend) on the Firestore emulator, as Firestore
// would bill them (fsCounter). One operation is one job that succeeds
// first time (fs-reads/job, fs-writes/job, fs-deletes/job, publishes/job)
// and one job whose first attempt is refused with a 503 and that succeeds
// on the next backend (the same units over failover-job), each on a fresh
// emulator. The breakdown by collection and by topic is logged (with
// AIPROD_BENCH_CALLERS=1, by the service function that made the call too).
//
// Reads made on a timer (the router's health cache, every 2 s) are spread
// over the jobs of that time, so they weigh less the more jobs there are.
// Issue 14's target for a successful job: ≤ 6 writes, ≤ 4 reads, ≤ 3
// publishes, or a note explaining each one above.
// Run: make bench, or go test -run '^$' -bench StoreOpsPerJob ./test/bench
func BenchmarkStoreOpsPerJob(b *testing.B) {
	b.StopTimer() // each phase times its jobs only: ns/op is both jobs'
	ok := countStoreOps(b, prompt)
	failover := countStoreOps(b, failoverPrompt)
	ok.report(b, "job")
	failover.report(b, "failover-job")
}

// storeOps are the operations counted over some jobs.
type storeOps struct {
	jobs                   int
	reads, writes, deletes map[string]int // by collection path
	publishes              map[string]int // by topic
}

// countStoreOps runs b.N jobs of prompt, in batches, through a pipeline on
// a fresh Firestore emulator and returns what they cost. The first batch,
// which creates the documents every later job finds (API key cache,
// concurrency slots, budget period), is not counted.
func countStoreOps(b *testing.B, prompt string) storeOps {
	b.Helper()
	st, c := countedFirestore(b)
	p := newPipeline(b, st)
	p.submit(b, batch, prompt)
	c.reset()
	p.q.publishes()

	b.StartTimer()
	for done := 0; done < b.N; done += batch {
		p.submit(b, min(batch, b.N-done), prompt)
	}
	b.StopTimer()
	ops := storeOps{jobs: b.N}
	ops.reads, ops.writes, ops.deletes = c.reset()
	_, ops.publishes = p.q.publishes()
	return ops
}

// countedFirestore returns a store on a fresh Firestore emulator, through
// a connection whose operations c counts.
func countedFirestore(tb testing.TB) (st store.Store, c *fsCounter) {
	tb.Helper()
	srv, err := firestoreemu.NewServer()
	must(tb, err)
	tb.Cleanup(func() { _ = srv.Close() })
	c = &fsCounter{}
	conn, err := grpc.NewClient("passthrough:///"+srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(c.unary), grpc.WithChainStreamInterceptor(c.stream))
	must(tb, err)
	fc, err := firestore.NewClient(context.Background(), "aiprod-bench", option.WithGRPCConn(conn))
	must(tb, err)
	tb.Cleanup(func() { _ = fc.Close() })
	return firestorestore.NewFromClient(fc), c
}

// report reports the operations per job under units "<op>/<per>" and logs
// them by collection and topic, on one line (go test keeps only the first
// ten lines a benchmark logs over all its runs).
func (o storeOps) report(b *testing.B, per string) {
	b.Helper()
	var line []string
	for _, m := range []struct {
		unit string
		n    map[string]int
	}{{"fs-reads", o.reads}, {"fs-writes", o.writes}, {"fs-deletes", o.deletes}, {"publishes", o.publishes}} {
		total := 0
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m.n)) {
			total += m.n[k]
			parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(m.n[k])/float64(o.jobs)))
		}
		b.ReportMetric(float64(total)/float64(o.jobs), m.unit+"/"+per)
		line = append(line, fmt.Sprintf("%s %.2f (%s)", m.unit, float64(total)/float64(o.jobs), strings.Join(parts, ", ")))
	}
	b.Logf("per %s, over %d: %s", per, o.jobs, strings.Join(line, "; "))
}

// fsCounter counts Firestore operations on a gRPC connection as Firestore
// bills them, by collection path (document ids left out, e.g.
// "jobs/events"):
//   - reads: one per document a GetDocument, BatchGetDocuments (found or
//     missing), RunQuery or ListDocuments returns, and at least one per
//     query; one per aggregation result;
//   - writes: one per update or transform of a committed Commit or
//     BatchWrite (a Commit that fails writes nothing);
//   - deletes: one per delete of a committed Commit or BatchWrite.
//
// BeginTransaction and Rollback are not billed.
type fsCounter struct {
	mu                     sync.Mutex
	reads, writes, deletes map[string]int
}

// reset returns the counts so far and starts again from zero.
func (c *fsCounter) reset() (reads, writes, deletes map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reads, writes, deletes = c.reads, c.writes, c.deletes
	c.reads, c.writes, c.deletes = map[string]int{}, map[string]int{}, map[string]int{}
	return reads, writes, deletes
}

// byCaller, set by AIPROD_BENCH_CALLERS=1, adds to each collection the
// two innermost service functions that made the call (store, retry and
// job-write frames skipped), to see which step reads or writes what.
var byCaller = os.Getenv("AIPROD_BENCH_CALLERS") == "1"

// caller names the service functions on the stack of a Firestore call.
func caller() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var out []string
	for len(out) < 2 {
		f, more := frames.Next()
		fn := f.Function
		if strings.Contains(fn, "/aiprod/pkg/") && !strings.Contains(fn, "/pkg/store") && !strings.Contains(fn, "/pkg/retry") &&
			!strings.Contains(fn, "/pkg/jobwrite") {
			out = append(out, fn[strings.LastIndex(fn, "/")+1:])
		}
		if !more {
			break
		}
	}
	return strings.Join(out, " < ")
}

func (c *fsCounter) add(m *map[string]int, collection string, n int) {
	if byCaller {
		collection += " @ " + caller()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[collection] += n
}

func (c *fsCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		return err
	}
	var writes []*pb.Write
	switch r := req.(type) {
	case *pb.CommitRequest:
		writes = r.GetWrites()
	case *pb.BatchWriteRequest:
		writes = r.GetWrites()
	case *pb.GetDocumentRequest:
		c.add(&c.reads, collectionOf(r.GetName()), 1)
	case *pb.ListDocumentsRequest:
		c.add(&c.reads, collectionOf(r.GetParent()+"/"+r.GetCollectionId()), max(len(reply.(*pb.ListDocumentsResponse).GetDocuments()), 1))
	}
	for _, w := range writes {
		switch op := w.GetOperation().(type) {
		case *pb.Write_Delete:
			c.add(&c.deletes, collectionOf(op.Delete), 1)
		case *pb.Write_Update:
			c.add(&c.writes, collectionOf(op.Update.GetName()), 1)
		case *pb.Write_Transform:
			c.add(&c.writes, collectionOf(op.Transform.GetDocument()), 1)
		}
	}
	return nil
}

func (c *fsCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countedStream{ClientStream: s, c: c}, nil
}

// countedStream counts the documents a read stream returns.
type countedStream struct {
	grpc.ClientStream
	c          *fsCounter
	collection string // of the query sent
	query      bool   // a RunQuery or RunAggregationQuery
	docs       int    // documents (or aggregation results) received
}

func (s *countedStream) SendMsg(m any) error {
	switch r := m.(type) {
	case *pb.RunQueryRequest:
		s.query, s.collection = true, queryCollection(r.GetParent(), r.GetStructuredQuery())
	case *pb.RunAggregationQueryRequest:
		s.query = true
		s.collection = queryCollection(r.GetParent(), r.GetStructuredAggregationQuery().GetStructuredQuery())
	}
	return s.ClientStream.SendMsg(m)
}

func (s *countedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		if errors.Is(err, io.EOF) && s.query && s.docs == 0 {
			s.c.add(&s.c.reads, s.collection, 1) // a query costs a read even when it finds nothing
		}
		return err
	}
	switch r := m.(type) {
	case *pb.BatchGetDocumentsResponse:
		if name := cmp.Or(r.GetFound().GetName(), r.GetMissing()); name != "" {
			s.docs++
			s.c.add(&s.c.reads, collectionOf(name), 1)
		}
	case *pb.RunQueryResponse:
		if r.GetDocument() != nil {
			s.docs++
			s.c.add(&s.c.reads, s.collection, 1)
		}
	case *pb.RunAggregationQueryResponse:
		if r.GetResult() != nil {
			s.docs++
			s.c.add(&s.c.reads, s.collection, 1)
		}
	}
	return nil
}

// collectionOf is the collection path of a document or collection
// resource name without the document ids: ".../documents/jobs/42/events/7"
// is "jobs/events".
func collectionOf(name string) string {
	_, path, _ := strings.Cut(name, "/documents/")
	segs := strings.Split(path, "/")
	var cols []string
	for i := 0; i < len(segs); i += 2 {
		cols = append(cols, segs[i])
	}
	return strings.Join(cols, "/")
}

func queryCollection(parent string, q *pb.StructuredQuery) string {
	from := "?"
	if f := q.GetFrom(); len(f) > 0 {
		from = f[0].GetCollectionId()
		if f[0].GetAllDescendants() {
			from = "**/" + from
		}
	}
	if strings.Contains(parent, "/documents/") {
		return collectionOf(parent + "/" + from + "/id") // a subcollection: the parent's path, then from
	}
	return from
}
