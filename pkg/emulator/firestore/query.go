package firestoreemu

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// order is one key of a query's ordering.
type order struct {
	path fieldPath
	desc bool
}

// cursor is a start_at or end_at position.
type cursor struct {
	values []*pb.Value
	before bool
}

// query is a compiled StructuredQuery.
type query struct {
	db       string
	parent   string // the root or a document name
	collID   string
	allDesc  bool
	filter   predicate // nil: every document
	orders   []order   // explicit, then implicit orders; always ends with __name__
	start    *cursor
	end      *cursor
	offset   int
	limit    int         // -1: no limit
	selected []fieldPath // nil: all fields
}

// compileQuery validates sq, run under parent, and compiles it.
func compileQuery(parent string, sq *pb.StructuredQuery) (*query, error) {
	if sq == nil {
		return nil, invalidArgf("missing structured query")
	}
	db, err := parseParent(parent)
	if err != nil {
		return nil, err
	}
	q := &query{db: db, parent: parent, limit: -1}
	if len(sq.GetFrom()) != 1 {
		return nil, invalidArgf("a query must select exactly one collection (from), got %d", len(sq.GetFrom()))
	}
	from := sq.GetFrom()[0]
	q.collID, q.allDesc = from.GetCollectionId(), from.GetAllDescendants()
	if q.collID == "" {
		return nil, invalidArgf("query: missing collection_id")
	}
	if strings.Contains(q.collID, "/") {
		return nil, invalidArgf("query: invalid collection_id %q", q.collID)
	}
	if sq.GetFindNearest() != nil {
		return nil, status.Error(codes.Unimplemented, "find_nearest (vector search) is not supported by the emulator")
	}

	var fc filterCompiler
	if w := sq.GetWhere(); w != nil {
		if q.filter, err = fc.compile(w); err != nil {
			return nil, err
		}
	}
	if q.orders, err = compileOrders(sq.GetOrderBy(), fc.inequalities); err != nil {
		return nil, err
	}
	if q.start, err = compileCursor("start_at", sq.GetStartAt(), q.orders); err != nil {
		return nil, err
	}
	if q.end, err = compileCursor("end_at", sq.GetEndAt(), q.orders); err != nil {
		return nil, err
	}
	if sq.GetOffset() < 0 {
		return nil, invalidArgf("query: negative offset")
	}
	q.offset = int(sq.GetOffset())
	if l := sq.GetLimit(); l != nil {
		if l.GetValue() < 0 {
			return nil, invalidArgf("query: negative limit")
		}
		q.limit = int(l.GetValue())
	}
	if sel := sq.GetSelect(); sel != nil {
		q.selected = []fieldPath{}
		for _, ref := range sel.GetFields() {
			fp, err := parseFieldPath(ref.GetFieldPath())
			if err != nil {
				return nil, invalidArgf("select: %v", err)
			}
			q.selected = append(q.selected, fp)
		}
	}
	return q, nil
}

// compileOrders completes the explicit orders as Firestore does: fields of
// inequality filters that are not ordered yet follow, sorted by field path,
// then __name__; the added keys take the direction of the last explicit one
// (ascending if none).
func compileOrders(explicit []*pb.StructuredQuery_Order, inequalities []fieldPath) ([]order, error) {
	var orders []order
	desc := false
	hasName := false
	for _, o := range explicit {
		fp, err := parseFieldPath(o.GetField().GetFieldPath())
		if err != nil {
			return nil, invalidArgf("order_by: %v", err)
		}
		for _, prev := range orders {
			if compareFieldPaths(prev.path, fp) == 0 {
				return nil, invalidArgf("order_by: %s is ordered twice", fp)
			}
		}
		desc = o.GetDirection() == pb.StructuredQuery_DESCENDING
		orders = append(orders, order{path: fp, desc: desc})
		if fp.isName() {
			hasName = true
		}
	}
	missing := slices.Clone(inequalities)
	slices.SortFunc(missing, compareFieldPaths)
	for _, fp := range missing {
		if !slices.ContainsFunc(orders, func(o order) bool { return compareFieldPaths(o.path, fp) == 0 }) {
			orders = append(orders, order{path: fp, desc: desc})
		}
	}
	if !hasName {
		orders = append(orders, order{path: fieldPath{nameField}, desc: desc})
	}
	return orders, nil
}

func compileCursor(what string, c *pb.Cursor, orders []order) (*cursor, error) {
	if c == nil {
		return nil, nil
	}
	if len(c.GetValues()) > len(orders) {
		return nil, invalidArgf("%s: %d values for %d orderings", what, len(c.GetValues()), len(orders))
	}
	for i, v := range c.GetValues() {
		if err := checkValue(v, 1); err != nil {
			return nil, invalidArgf("%s: %v", what, err)
		}
		if orders[i].path.isName() && v.GetReferenceValue() == "" {
			return nil, invalidArgf("%s: the value for %s must be a document reference", what, nameField)
		}
	}
	return &cursor{values: c.GetValues(), before: c.GetBefore()}, nil
}

// inScope reports whether a document belongs to the queried collection(s).
// The caller has checked that name is under q.parent.
func (q *query) inScope(name string) bool {
	parent, coll := docParentAndCollection(name)
	if coll != q.collID {
		return false
	}
	return q.allDesc || parent == q.parent
}

// compareDocs orders two documents by q's orders.
func (q *query) compareDocs(a, b docAt) int {
	for _, o := range q.orders {
		va, _ := fieldValue(a, o.path)
		vb, _ := fieldValue(b, o.path)
		c := compareValues(va, vb)
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// compareToCursor compares d with a cursor position, on the orders the
// cursor has values for: negative if d comes before it in result order.
func (q *query) compareToCursor(d docAt, c *cursor) int {
	for i, cv := range c.values {
		v, _ := fieldValue(d, q.orders[i].path)
		n := compareValues(v, cv)
		if q.orders[i].desc {
			n = -n
		}
		if n != 0 {
			return n
		}
	}
	return 0
}

// matches applies the filter, the implicit existence filter of the ordered
// fields, and the cursors.
func (q *query) matches(d docAt) bool {
	for _, o := range q.orders {
		if _, ok := fieldValue(d, o.path); !ok {
			return false
		}
	}
	if q.filter != nil && !q.filter(d) {
		return false
	}
	if q.start != nil {
		n := q.compareToCursor(d, q.start)
		if n < 0 || (n == 0 && !q.start.before) {
			return false
		}
	}
	if q.end != nil {
		n := q.compareToCursor(d, q.end)
		if n > 0 || (n == 0 && q.end.before) {
			return false
		}
	}
	return true
}

// runQueryLocked returns the query's results at time t and how many results
// the offset skipped.
func (st *store) runQueryLocked(q *query, t time.Time) (docs []docAt, skipped int) {
	keep := func(d docAt) {
		if q.inScope(d.name) && q.matches(d) {
			docs = append(docs, d)
		}
	}
	if q.allDesc {
		st.scanLocked(q.db, q.parent+"/", t, keep) // a collection group: every descendant
	} else {
		st.scanCollectionLocked(q.db, q.parent+"/"+q.collID, t, keep)
	}
	slices.SortFunc(docs, q.compareDocs)
	skipped = min(q.offset, len(docs))
	docs = docs[skipped:]
	if q.limit >= 0 && len(docs) > q.limit {
		docs = docs[:q.limit]
	}
	return docs, skipped
}

// fingerprint identifies a result set: names and versions, in order.
func fingerprint(docs []docAt) string {
	var b strings.Builder
	for _, d := range docs {
		b.WriteString(d.name)
		b.WriteByte('@')
		b.WriteString(strconv.FormatInt(d.v.at.UnixNano(), 10))
		b.WriteByte('\n')
	}
	return b.String()
}

// queryInTxnLocked runs q in read-write transaction t: it locks the result
// documents (re-running the query after waiting, since results may change
// meanwhile), records them, and records the query for validation at commit.
// It returns the results and the read time.
func (st *store) queryInTxnLocked(ctx context.Context, t *txn, q *query) ([]docAt, int, time.Time, error) {
	for attempt := 0; ; attempt++ {
		if t.err != nil {
			return nil, 0, time.Time{}, t.err
		}
		at := st.readTimeLocked()
		docs, skipped := st.runQueryLocked(q, at)
		var unlocked []string
		for _, d := range docs {
			if !t.locks[d.name] {
				unlocked = append(unlocked, d.name)
			}
		}
		if len(unlocked) == 0 || attempt == 2 || st.optimistic {
			// After a few rounds, rely on validation at commit alone.
			for _, d := range docs {
				t.recordRead(d.name, d.v)
			}
			t.queries = append(t.queries, queryRead{
				fingerprint: func() string {
					docs, _ := st.runQueryLocked(q, st.lastCommit)
					return fingerprint(docs)
				},
				seen: fingerprint(docs),
			})
			return docs, skipped, at, nil
		}
		if err := st.acquireLocksLocked(ctx, t, unlocked); err != nil {
			return nil, 0, time.Time{}, err
		}
	}
}

// executeLocked runs q as target says: in a read-write transaction (locking)
// or at a snapshot. It returns the results, the offset's skip count and the
// read time.
func (st *store) executeLocked(ctx context.Context, q *query, target readTarget) ([]docAt, int, time.Time, error) {
	if target.txn != nil {
		return st.queryInTxnLocked(ctx, target.txn, q)
	}
	docs, skipped := st.runQueryLocked(q, target.at)
	return docs, skipped, target.at, nil
}

// consistency is the consistency selector of a query request: a
// transaction, a new one, or a read time (none: now).
type consistency interface {
	GetTransaction() []byte
	GetNewTransaction() *pb.TransactionOptions
	GetReadTime() *timestamppb.Timestamp
}

// queryResult is what a query request read.
type queryResult struct {
	docs    []docAt
	skipped int       // results skipped by the offset
	at      time.Time // read time
	newTxn  []byte    // transaction the request began, to be reported
}

// runQuery runs q at the consistency its request selects. With execute
// false (an explain without analyze) it only resolves the read time.
func (st *store) runQuery(ctx context.Context, q *query, sel consistency, execute bool) (queryResult, error) {
	var r queryResult
	var err error
	r.newTxn, err = st.read(q.db, sel.GetTransaction(), sel.GetNewTransaction(), sel.GetReadTime(), func(target readTarget) (err error) {
		if execute {
			r.docs, r.skipped, r.at, err = st.executeLocked(ctx, q, target)
		} else if r.at = target.at; r.at.IsZero() {
			r.at = st.readTimeLocked() // a read-write transaction that reads nothing
		}
		return err
	})
	return r, err
}

// RunQuery runs a structured query and streams its results.
func (s *service) RunQuery(req *pb.RunQueryRequest, stream pb.Firestore_RunQueryServer) error {
	q, err := compileQuery(req.GetParent(), req.GetStructuredQuery())
	if err != nil {
		return err
	}
	explain := req.GetExplainOptions()
	started := time.Now()

	res, err := s.st.runQuery(stream.Context(), q, req, explain == nil || explain.GetAnalyze())
	if err != nil {
		return err
	}
	docs, skipped := res.docs, res.skipped
	var resps []*pb.RunQueryResponse
	if res.newTxn != nil {
		resps = append(resps, &pb.RunQueryResponse{Transaction: res.newTxn})
	}
	readTime := timestamppb.New(res.at)
	for _, d := range docs {
		resps = append(resps, &pb.RunQueryResponse{Document: toDocument(d.name, d.v, q.selected), ReadTime: readTime})
	}
	if len(docs) == 0 {
		resps = append(resps, &pb.RunQueryResponse{ReadTime: readTime})
	}
	first := resps[0]
	if res.newTxn != nil {
		first = resps[1]
	}
	first.SkippedResults = int32(skipped)
	last := resps[len(resps)-1]
	last.ContinuationSelector = &pb.RunQueryResponse_Done{Done: true}
	if explain != nil {
		last.ExplainMetrics = explainMetrics(explain, len(docs), len(docs)+skipped, time.Since(started))
	}
	for _, r := range resps {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}

// explainMetrics describes a query run for ExplainOptions. The emulator has
// no indexes, so the plan is a full scan.
func explainMetrics(opts *pb.ExplainOptions, returned, read int, took time.Duration) *pb.ExplainMetrics {
	plan, _ := structpb.NewStruct(map[string]any{"query_scope": "Collection", "properties": "(__name__ ASC)"})
	m := &pb.ExplainMetrics{PlanSummary: &pb.PlanSummary{IndexesUsed: []*structpb.Struct{plan}}}
	if opts.GetAnalyze() {
		debug, _ := structpb.NewStruct(map[string]any{"documents_scanned": strconv.Itoa(read)})
		m.ExecutionStats = &pb.ExecutionStats{
			ResultsReturned:   int64(returned),
			ExecutionDuration: durationpb.New(took),
			ReadOperations:    int64(max(read, 1)),
			DebugStats:        debug,
		}
	}
	return m
}
