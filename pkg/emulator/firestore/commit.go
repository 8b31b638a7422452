package firestoreemu

import (
	"context"
	"crypto/rand"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxValueDepth = 20

// write is a validated Write.
type write struct {
	name       string
	delete     bool
	fields     map[string]*pb.Value // update: the new fields
	replace    bool                 // update without mask: replace the whole document
	mask       []fieldPath          // update with mask: the fields to set or delete
	transforms []fieldTransform
	pre        *pb.Precondition
}

// prepareWrite validates w, which must target database db.
func prepareWrite(db string, w *pb.Write) (*write, error) {
	out := &write{pre: w.GetCurrentDocument()}
	switch op := w.GetOperation().(type) {
	case *pb.Write_Update:
		out.name = op.Update.GetName()
		out.fields = op.Update.GetFields()
		if out.fields == nil {
			out.fields = map[string]*pb.Value{}
		}
		if err := checkFields(out.fields, 1); err != nil {
			return nil, err
		}
		if w.GetUpdateMask() == nil {
			out.replace = true
		} else {
			mask, err := parseMask(w.GetUpdateMask())
			if err != nil {
				return nil, err
			}
			for _, fp := range mask {
				if fp.isName() {
					return nil, invalidArgf("update mask: cannot update %s", nameField)
				}
			}
			out.mask = mask
		}
		ts, err := prepareTransforms(w.GetUpdateTransforms())
		if err != nil {
			return nil, err
		}
		out.transforms = ts
	case *pb.Write_Delete:
		out.name = op.Delete
		out.delete = true
		if w.GetUpdateMask() != nil || len(w.GetUpdateTransforms()) > 0 {
			return nil, invalidArgf("a delete cannot have an update mask or transforms")
		}
	case *pb.Write_Transform:
		out.name = op.Transform.GetDocument()
		out.mask = []fieldPath{}
		ts, err := prepareTransforms(op.Transform.GetFieldTransforms())
		if err != nil {
			return nil, err
		}
		out.transforms = ts
	default:
		return nil, invalidArgf("write without an operation")
	}
	docDB, err := parseDocumentName(out.name)
	if err != nil {
		return nil, err
	}
	if docDB != db {
		return nil, invalidArgf("document %s is not in database %s", out.name, db)
	}
	if ut := out.pre.GetUpdateTime(); ut != nil {
		if err := ut.CheckValid(); err != nil {
			return nil, invalidArgf("precondition update_time: %v", err)
		}
	}
	return out, nil
}

// prepareWrites checks and prepares the writes of a request to database
// (a database resource name) and returns the database's id with them.
func prepareWrites(database string, ws []*pb.Write) (string, []*write, error) {
	db, err := parseDatabaseName(database)
	if err != nil {
		return "", nil, err
	}
	out := make([]*write, len(ws))
	for i, w := range ws {
		pw, err := prepareWrite(db, w)
		if err != nil {
			return "", nil, err
		}
		out[i] = pw
	}
	return db, out, nil
}

// checkFields validates the values of a document or map, depth being the
// nesting level of fields.
func checkFields(fields map[string]*pb.Value, depth int) error {
	if depth > maxValueDepth {
		return invalidArgf("value nested more than %d levels deep", maxValueDepth)
	}
	for k, v := range fields {
		if k == "" {
			return invalidArgf("empty field name")
		}
		if err := checkValue(v, depth); err != nil {
			return err
		}
	}
	return nil
}

func checkValues(vs []*pb.Value) error {
	for _, v := range vs {
		if err := checkValue(v, 1); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(v *pb.Value, depth int) error {
	switch vt := v.GetValueType().(type) {
	case *pb.Value_NullValue, *pb.Value_BooleanValue, *pb.Value_IntegerValue, *pb.Value_DoubleValue,
		*pb.Value_StringValue, *pb.Value_BytesValue, *pb.Value_GeoPointValue:
		return nil
	case *pb.Value_TimestampValue:
		if err := vt.TimestampValue.CheckValid(); err != nil {
			return invalidArgf("invalid timestamp value: %v", err)
		}
		return nil
	case *pb.Value_ReferenceValue:
		if _, err := parseDocumentName(vt.ReferenceValue); err != nil {
			return invalidArgf("invalid reference value %q", vt.ReferenceValue)
		}
		return nil
	case *pb.Value_ArrayValue:
		for _, e := range vt.ArrayValue.GetValues() {
			if e.GetArrayValue() != nil {
				return invalidArgf("an array cannot directly contain another array")
			}
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case *pb.Value_MapValue:
		return checkFields(vt.MapValue.GetFields(), depth+1)
	case nil:
		return invalidArgf("value without a type")
	default:
		return invalidArgf("value type %T cannot be stored", vt)
	}
}

// applyWriteLocked applies one write on top of staged (the documents already
// written by this commit) and returns its result. It does not touch the store.
func (st *store) applyWriteLocked(db string, staged map[string]*version, w *write, commitTime time.Time) (*pb.WriteResult, error) {
	cur, ok := staged[w.name]
	if !ok {
		cur = st.latestLocked(db, w.name)
	}
	exists := cur != nil && cur.exists
	switch c := w.pre.GetConditionType().(type) {
	case *pb.Precondition_Exists:
		if c.Exists && !exists {
			return nil, notFoundf("no document to update: %s", w.name)
		}
		if !c.Exists && exists {
			return nil, alreadyExistsf("document already exists: %s", w.name)
		}
	case *pb.Precondition_UpdateTime:
		if !exists || !cur.updated.Equal(c.UpdateTime.AsTime()) {
			return nil, failedPreconditionf("the update_time precondition of %s does not hold", w.name)
		}
	}

	if w.delete {
		if exists {
			staged[w.name] = &version{at: commitTime}
		}
		return &pb.WriteResult{}, nil
	}

	var fields map[string]*pb.Value
	switch {
	case w.replace:
		fields = cloneFields(w.fields)
	default:
		fields = map[string]*pb.Value{}
		if exists {
			fields = cloneFields(cur.fields)
		}
		for _, fp := range w.mask {
			if v, ok := getField(w.fields, fp); ok {
				setField(fields, fp, proto.Clone(v).(*pb.Value))
			} else {
				deleteField(fields, fp)
			}
		}
	}
	res := &pb.WriteResult{}
	for _, t := range w.transforms {
		res.TransformResults = append(res.TransformResults, t.apply(fields, commitTime))
	}
	if err := checkFields(fields, 1); err != nil {
		return nil, err
	}

	if exists && fieldsEqual(cur.fields, fields) {
		res.UpdateTime = timestamppb.New(cur.updated) // no change, no new version
		return res, nil
	}
	next := &version{at: commitTime, exists: true, fields: fields, created: commitTime, updated: commitTime}
	if exists {
		next.created = cur.created
	}
	staged[w.name] = next
	res.UpdateTime = timestamppb.New(commitTime)
	return res, nil
}

// commitLocked applies writes atomically at commitTime: all or none.
func (st *store) commitLocked(db string, ws []*write, commitTime time.Time) ([]*pb.WriteResult, error) {
	staged := map[string]*version{}
	var order []string
	results := make([]*pb.WriteResult, len(ws))
	for i, w := range ws {
		if _, seen := staged[w.name]; !seen {
			order = append(order, w.name)
		}
		res, err := st.applyWriteLocked(db, staged, w, commitTime)
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	for _, name := range order {
		if v, ok := staged[name]; ok && v.at.Equal(commitTime) {
			st.installLocked(db, name, v)
		}
	}
	return results, nil
}

// Commit applies writes atomically, inside a transaction or not.
func (s *service) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	db, ws, err := prepareWrites(req.GetDatabase(), req.GetWrites())
	if err != nil {
		return nil, err
	}
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if id := req.GetTransaction(); len(id) > 0 {
		t, err := st.txnLocked(db, id)
		if t != nil {
			defer st.finishTxnLocked(t)
		}
		if err != nil {
			return nil, err
		}
		if t.readOnly && len(ws) > 0 {
			return nil, invalidArgf("cannot write in a read-only transaction")
		}
		if err := st.validateLocked(t); err != nil {
			return nil, err
		}
	}
	commitTime := st.commitTimeLocked()
	results, err := st.commitLocked(db, ws, commitTime)
	if err != nil {
		return nil, err
	}
	return &pb.CommitResponse{WriteResults: results, CommitTime: timestamppb.New(commitTime)}, nil
}

// BatchWrite applies writes independently of each other, none in a
// transaction, and reports the status of each.
func (s *service) BatchWrite(ctx context.Context, req *pb.BatchWriteRequest) (*pb.BatchWriteResponse, error) {
	db, ws, err := prepareWrites(req.GetDatabase(), req.GetWrites())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, w := range ws {
		if seen[w.name] {
			return nil, invalidArgf("batch write: more than one write to %s", w.name)
		}
		seen[w.name] = true
	}
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	commitTime := st.commitTimeLocked()
	resp := &pb.BatchWriteResponse{}
	for _, w := range ws {
		res, err := st.commitLocked(db, []*write{w}, commitTime)
		if err != nil {
			resp.WriteResults = append(resp.WriteResults, &pb.WriteResult{})
			resp.Status = append(resp.Status, status.Convert(err).Proto())
			continue
		}
		resp.WriteResults = append(resp.WriteResults, res[0])
		resp.Status = append(resp.Status, &rpcstatus.Status{})
	}
	return resp, nil
}

// commitOne applies a single write outside any transaction and returns the
// resulting version of the document (nil if it does not exist).
func (s *service) commitOne(db string, w *pb.Write) (*version, error) {
	pw, err := prepareWrite(db, w)
	if err != nil {
		return nil, err
	}
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := st.commitLocked(db, []*write{pw}, st.commitTimeLocked()); err != nil {
		return nil, err
	}
	return st.latestLocked(db, pw.name), nil
}

// CreateDocument creates a document, with a generated ID if none is given.
func (s *service) CreateDocument(ctx context.Context, req *pb.CreateDocumentRequest) (*pb.Document, error) {
	db, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	if req.GetCollectionId() == "" {
		return nil, invalidArgf("create document: missing collection_id")
	}
	id := req.GetDocumentId()
	if id == "" {
		id = newDocumentID()
	}
	name := req.GetParent() + "/" + req.GetCollectionId() + "/" + id
	doc := &pb.Document{Name: name, Fields: req.GetDocument().GetFields()}
	return s.commitDocument(db, &pb.Write{
		Operation:       &pb.Write_Update{Update: doc},
		CurrentDocument: &pb.Precondition{ConditionType: &pb.Precondition_Exists{Exists: false}},
	}, req.GetMask())
}

// UpdateDocument updates or inserts a document.
func (s *service) UpdateDocument(ctx context.Context, req *pb.UpdateDocumentRequest) (*pb.Document, error) {
	db, err := parseDocumentName(req.GetDocument().GetName())
	if err != nil {
		return nil, err
	}
	return s.commitDocument(db, &pb.Write{
		Operation:       &pb.Write_Update{Update: req.GetDocument()},
		UpdateMask:      req.GetUpdateMask(),
		CurrentDocument: req.GetCurrentDocument(),
	}, req.GetMask())
}

// commitDocument commits w, an update, and returns the document it leaves,
// projected by mask.
func (s *service) commitDocument(db string, w *pb.Write, mask *pb.DocumentMask) (*pb.Document, error) {
	v, err := s.commitOne(db, w)
	if err != nil {
		return nil, err
	}
	paths, err := parseMask(mask)
	if err != nil {
		return nil, err
	}
	return toDocument(w.GetUpdate().GetName(), v, paths), nil
}

// DeleteDocument deletes a document.
func (s *service) DeleteDocument(ctx context.Context, req *pb.DeleteDocumentRequest) (*emptypb.Empty, error) {
	db, err := parseDocumentName(req.GetName())
	if err != nil {
		return nil, err
	}
	if _, err := s.commitOne(db, &pb.Write{
		Operation:       &pb.Write_Delete{Delete: req.GetName()},
		CurrentDocument: req.GetCurrentDocument(),
	}); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// newDocumentID returns a random 20-character ID, like the client libraries
// generate.
func newDocumentID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
