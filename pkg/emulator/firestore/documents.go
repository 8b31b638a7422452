package firestoreemu

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// readDocsLocked reads documents as target says. In a read-write
// transaction it first locks them all (waiting as needed) and records the
// versions read. It returns the versions (nil: never existed) and the read
// time.
func (st *store) readDocsLocked(ctx context.Context, db string, names []string, target readTarget) ([]*version, time.Time, error) {
	at := target.at
	if t := target.txn; t != nil {
		if t.err != nil {
			return nil, time.Time{}, t.err
		}
		if err := st.acquireLocksLocked(ctx, t, names); err != nil {
			return nil, time.Time{}, err
		}
		at = st.readTimeLocked()
	}
	vs := make([]*version, len(names))
	for i, name := range names {
		vs[i] = st.lookupLocked(db, name, at)
		if target.txn != nil {
			target.txn.recordRead(name, vs[i])
		}
	}
	return vs, at, nil
}

// GetDocument reads one document.
func (s *service) GetDocument(ctx context.Context, req *pb.GetDocumentRequest) (*pb.Document, error) {
	db, err := parseDocumentName(req.GetName())
	if err != nil {
		return nil, err
	}
	mask, err := parseMask(req.GetMask())
	if err != nil {
		return nil, err
	}
	var vs []*version
	_, err = s.st.read(db, req.GetTransaction(), nil, req.GetReadTime(), func(target readTarget) (err error) {
		vs, _, err = s.st.readDocsLocked(ctx, db, []string{req.GetName()}, target)
		return err
	})
	if err != nil {
		return nil, err
	}
	if vs[0] == nil || !vs[0].exists {
		return nil, notFoundf("document %s not found", req.GetName())
	}
	return toDocument(req.GetName(), vs[0], mask), nil
}

// BatchGetDocuments reads several documents, reporting absent ones as
// missing. Each document is reported once, even if requested twice.
func (s *service) BatchGetDocuments(req *pb.BatchGetDocumentsRequest, stream pb.Firestore_BatchGetDocumentsServer) error {
	db, err := parseDatabaseName(req.GetDatabase())
	if err != nil {
		return err
	}
	for _, name := range req.GetDocuments() {
		docDB, err := parseDocumentName(name)
		if err != nil {
			return err
		}
		if docDB != db {
			return invalidArgf("document %s is not in database %s", name, db)
		}
	}
	mask, err := parseMask(req.GetMask())
	if err != nil {
		return err
	}
	var names []string
	for _, name := range req.GetDocuments() {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}

	var (
		vs []*version
		at time.Time
	)
	newTxn, err := s.st.read(db, req.GetTransaction(), req.GetNewTransaction(), req.GetReadTime(), func(target readTarget) (err error) {
		vs, at, err = s.st.readDocsLocked(stream.Context(), db, names, target)
		return err
	})
	if err != nil {
		return err
	}

	readTime := timestamppb.New(at)
	for i, name := range names {
		resp := &pb.BatchGetDocumentsResponse{ReadTime: readTime}
		if i == 0 {
			resp.Transaction = newTxn
		}
		if v := vs[i]; v != nil && v.exists {
			resp.Result = &pb.BatchGetDocumentsResponse_Found{Found: toDocument(name, v, mask)}
		} else {
			resp.Result = &pb.BatchGetDocumentsResponse_Missing{Missing: name}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

// ListDocuments lists the documents of a collection (or of every
// collection directly under parent when collection_id is empty), by name
// unless order_by says otherwise. With show_missing it also lists missing
// documents: absent ones that have documents below them.
func (s *service) ListDocuments(ctx context.Context, req *pb.ListDocumentsRequest) (*pb.ListDocumentsResponse, error) {
	db, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	if strings.Contains(req.GetCollectionId(), "/") {
		return nil, invalidArgf("invalid collection_id %q", req.GetCollectionId())
	}
	if req.GetShowMissing() && req.GetOrderBy() != "" {
		return nil, invalidArgf("show_missing cannot be combined with order_by")
	}
	orders, err := parseOrderBy(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	mask, err := parseMask(req.GetMask())
	if err != nil {
		return nil, err
	}
	offset, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	if req.GetPageSize() < 0 {
		return nil, invalidArgf("negative page_size")
	}

	st := s.st
	var docs []docAt
	_, err = st.read(db, req.GetTransaction(), nil, req.GetReadTime(), func(target readTarget) error {
		list := func(at time.Time) []docAt {
			return st.listLocked(db, req.GetParent(), req.GetCollectionId(), req.GetShowMissing(), orders, at)
		}
		t := target.txn
		if t == nil {
			docs = list(target.at)
			return nil
		}
		docs = list(st.readTimeLocked())
		t.queries = append(t.queries, queryRead{
			fingerprint: func() string { return fingerprint(list(st.lastCommit)) },
			seen:        fingerprint(docs),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}

	lo, hi, next := page(len(docs), offset, req.GetPageSize())
	resp := &pb.ListDocumentsResponse{NextPageToken: next}
	for _, d := range docs[lo:hi] {
		if d.v.exists {
			resp.Documents = append(resp.Documents, toDocument(d.name, d.v, mask))
		} else {
			resp.Documents = append(resp.Documents, &pb.Document{Name: d.name})
		}
	}
	return resp, nil
}

// listLocked returns the documents ListDocuments lists, in order. Missing
// documents come with a version that does not exist.
func (st *store) listLocked(db, parent, collID string, showMissing bool, orders []order, at time.Time) []docAt {
	prefix := parent + "/"
	if collID != "" {
		prefix += collID + "/"
	}
	found := map[string]bool{}
	var docs []docAt
	missing := map[string]bool{}
	st.scanLocked(db, prefix, at, func(d docAt) {
		rest := strings.TrimPrefix(d.name, parent+"/")
		segs := strings.SplitN(rest, "/", 3) // collection, id, deeper
		child := parent + "/" + segs[0] + "/" + segs[1]
		if len(segs) == 2 {
			found[child] = true
			docs = append(docs, d)
		} else if showMissing {
			missing[child] = true
		}
	})
	for name := range missing {
		if !found[name] {
			docs = append(docs, docAt{name: name, v: &version{}})
		}
	}
	if len(orders) > 0 {
		q := &query{orders: orders}
		docs = slices.DeleteFunc(docs, func(d docAt) bool { return !q.matches(d) })
		slices.SortFunc(docs, q.compareDocs)
	} else {
		slices.SortFunc(docs, func(a, b docAt) int { return compareResourceNames(a.name, b.name) })
	}
	return docs
}

// parseOrderBy parses ListDocuments' order_by ("a desc, b, __name__").
func parseOrderBy(s string) ([]order, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var explicit []*pb.StructuredQuery_Order
	for _, part := range strings.Split(s, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 {
			return nil, invalidArgf("invalid order_by %q", s)
		}
		dir := pb.StructuredQuery_ASCENDING
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				dir = pb.StructuredQuery_DESCENDING
			default:
				return nil, invalidArgf("invalid order_by %q", s)
			}
		}
		explicit = append(explicit, &pb.StructuredQuery_Order{
			Field:     &pb.StructuredQuery_FieldReference{FieldPath: words[0]},
			Direction: dir,
		})
	}
	return compileOrders(explicit, nil)
}

// Page tokens are opaque to clients; here they encode an offset.

// page returns the bounds [lo, hi) of the page of a listing of n items that
// starts at offset and holds at most size of them (all when size is 0), and
// the token of the next page ("" after the last).
func page(n, offset int, size int32) (lo, hi int, next string) {
	lo, hi = min(offset, n), n
	if size > 0 && offset+int(size) < n {
		hi = offset + int(size)
		next = encodePageToken(hi)
	}
	return lo, hi, next
}

func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, invalidArgf("invalid page_token")
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 {
		return 0, invalidArgf("invalid page_token")
	}
	return n, nil
}

// ListCollectionIds lists the IDs of the collections directly under parent
// that hold at least one document (at any depth).
func (s *service) ListCollectionIds(ctx context.Context, req *pb.ListCollectionIdsRequest) (*pb.ListCollectionIdsResponse, error) {
	db, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	if req.GetPageSize() < 0 {
		return nil, invalidArgf("negative page_size")
	}
	offset, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	st := s.st
	st.mu.Lock()
	var at time.Time
	if rt := req.GetReadTime(); rt != nil {
		at, err = st.pastReadTimeLocked(rt)
	} else {
		at = st.readTimeLocked()
	}
	seen := map[string]bool{}
	var ids []string
	if err == nil {
		prefix := req.GetParent() + "/"
		st.scanLocked(db, prefix, at, func(d docAt) {
			id, _, _ := strings.Cut(strings.TrimPrefix(d.name, prefix), "/")
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		})
	}
	st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	lo, hi, next := page(len(ids), offset, req.GetPageSize())
	return &pb.ListCollectionIdsResponse{CollectionIds: ids[lo:hi], NextPageToken: next}, nil
}

// PartitionQuery returns no partition points: the whole query is one
// partition, which the API allows.
func (s *service) PartitionQuery(ctx context.Context, req *pb.PartitionQueryRequest) (*pb.PartitionQueryResponse, error) {
	if _, err := compileQuery(req.GetParent(), req.GetStructuredQuery()); err != nil {
		return nil, err
	}
	return &pb.PartitionQueryResponse{}, nil
}
