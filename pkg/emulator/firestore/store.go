package firestoreemu

import (
	"sort"
	"strings"
	"sync"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultRetention is how long superseded document versions are kept for
// read_time reads and read-only transactions (Firestore: one hour without
// point-in-time recovery).
const defaultRetention = time.Hour

// version is one state of a document, current from commit time at until the
// next version. A version with exists == false is a deletion. Versions are
// immutable once stored: readers share their fields without copying.
type version struct {
	at      time.Time
	exists  bool
	fields  map[string]*pb.Value
	created time.Time
	updated time.Time
}

// history is a document's versions, oldest first.
type history struct {
	versions []*version
}

// at returns the version visible at time t, or nil if the document had no
// version yet. A nil history has no versions.
func (h *history) at(t time.Time) *version {
	if h == nil {
		return nil
	}
	i := sort.Search(len(h.versions), func(i int) bool { return h.versions[i].at.After(t) })
	if i == 0 {
		return nil
	}
	return h.versions[i-1]
}

// latest returns the current version, nil if none (or h is nil).
func (h *history) latest() *version {
	if h == nil || len(h.versions) == 0 {
		return nil
	}
	return h.versions[len(h.versions)-1]
}

// prune drops versions that no read at or after cutoff can see.
func (h *history) prune(cutoff time.Time) {
	i := sort.Search(len(h.versions), func(i int) bool { return h.versions[i].at.After(cutoff) })
	if i > 1 {
		h.versions = append([]*version(nil), h.versions[i-1:]...)
	}
}

// versionID identifies the state of a document for conflict detection: the
// commit time of its current version, zero if it never existed.
func versionID(v *version) time.Time {
	if v == nil {
		return time.Time{}
	}
	return v.at
}

// database holds the documents of one database, keyed by full name, and
// the same histories by collection (the document name without its last
// "/id"), so that a query of one collection reads that collection only.
// Documents are never removed (a deletion is a version).
type database struct {
	docs        map[string]*history
	collections map[string]map[string]*history
}

// store is the whole emulator state. Every field is guarded by mu; methods
// named ...Locked expect mu to be held.
type store struct {
	mu  sync.Mutex
	now func() time.Time

	dbs map[string]*database

	// Clock: commit times are unique, increasing, and later than every
	// read time handed out, so that a read at time t always sees the same
	// data.
	lastCommit time.Time
	lastRead   time.Time
	retention  time.Duration

	// Transactions and their document locks (see transactions.go).
	txns     map[string]*txn
	locks    map[string]*txn
	released chan struct{} // closed and replaced whenever a lock is released
	txnSeq   uint64
	// optimistic: read-write transactions take no locks (Optimistic).
	optimistic bool
}

func newStore() *store {
	return &store{
		now:       time.Now,
		dbs:       map[string]*database{},
		retention: defaultRetention,
		txns:      map[string]*txn{},
		locks:     map[string]*txn{},
		released:  make(chan struct{}),
	}
}

// reset drops every document and aborts every transaction.
func (st *store) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.txns {
		st.abortTxnLocked(t, abortedf("transaction aborted: emulator reset"))
	}
	st.dbs = map[string]*database{}
	st.txns = map[string]*txn{}
	st.locks = map[string]*txn{}
}

// pruneAll drops, in every document's history, the versions that no read
// within the retention can see: a document written rarely (a finished
// job) would otherwise keep the versions of its last minutes forever.
func (st *store) pruneAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	cutoff := st.now().Add(-st.retention)
	for _, d := range st.dbs {
		for _, h := range d.docs {
			h.prune(cutoff)
		}
	}
}

func (st *store) nowMicros() time.Time {
	return st.now().UTC().Truncate(time.Microsecond)
}

// readTimeLocked returns the time of a read of the latest data.
func (st *store) readTimeLocked() time.Time {
	t := st.nowMicros()
	if t.Before(st.lastCommit) {
		t = st.lastCommit
	}
	if t.After(st.lastRead) {
		st.lastRead = t
	}
	return t
}

// commitTimeLocked allocates the time of a new commit.
func (st *store) commitTimeLocked() time.Time {
	t := st.nowMicros()
	floor := st.lastCommit
	if st.lastRead.After(floor) {
		floor = st.lastRead
	}
	if !t.After(floor) {
		t = floor.Add(time.Microsecond)
	}
	st.lastCommit = t
	return t
}

// pastReadTimeLocked validates a client-chosen read time.
func (st *store) pastReadTimeLocked(ts *timestamppb.Timestamp) (time.Time, error) {
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, invalidArgf("invalid read_time: %v", err)
	}
	t := ts.AsTime()
	now := st.nowMicros()
	if t.Before(now.Add(-st.retention)) {
		return time.Time{}, failedPreconditionf("read_time %s is older than the version retention period (%s)", t.Format(time.RFC3339Nano), st.retention)
	}
	limit := now
	if st.lastCommit.After(limit) {
		limit = st.lastCommit
	}
	if t.After(limit.Add(time.Second)) {
		return time.Time{}, invalidArgf("read_time %s is in the future", t.Format(time.RFC3339Nano))
	}
	if t.After(st.lastRead) {
		st.lastRead = t // later commits must not change what this read saw
	}
	return t, nil
}

func (st *store) dbLocked(db string) *database {
	d, ok := st.dbs[db]
	if !ok {
		d = &database{docs: map[string]*history{}, collections: map[string]map[string]*history{}}
		st.dbs[db] = d
	}
	return d
}

// historyLocked returns a document's history, nil if it never had a
// version.
func (st *store) historyLocked(db, name string) *history {
	if d, ok := st.dbs[db]; ok {
		return d.docs[name]
	}
	return nil
}

// lookupLocked returns the version of a document visible at t; nil or a
// deletion means the document does not exist.
func (st *store) lookupLocked(db, name string, t time.Time) *version {
	return st.historyLocked(db, name).at(t)
}

// latestLocked returns the current version of a document (nil if none).
func (st *store) latestLocked(db, name string) *version {
	return st.historyLocked(db, name).latest()
}

// installLocked makes v the current version of a document.
func (st *store) installLocked(db, name string, v *version) {
	d := st.dbLocked(db)
	h, ok := d.docs[name]
	if !ok {
		h = &history{}
		d.docs[name] = h
		coll := collectionOf(name)
		if d.collections[coll] == nil {
			d.collections[coll] = map[string]*history{}
		}
		d.collections[coll][name] = h
	}
	h.versions = append(h.versions, v)
	h.prune(v.at.Add(-st.retention))
}

// docAt is a document as seen by a read.
type docAt struct {
	name string
	v    *version
}

// scanLocked calls fn for every document of db existing at t whose name
// starts with prefix, in no particular order.
func (st *store) scanLocked(db, prefix string, t time.Time, fn func(docAt)) {
	d, ok := st.dbs[db]
	if !ok {
		return
	}
	for name, h := range d.docs {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if v := h.at(t); v != nil && v.exists {
			fn(docAt{name: name, v: v})
		}
	}
}

// scanCollectionLocked calls fn for every document of db existing at t
// whose collection is coll (a parent path, "/", a collection id): its
// direct children only, in no particular order.
func (st *store) scanCollectionLocked(db, coll string, t time.Time, fn func(docAt)) {
	d, ok := st.dbs[db]
	if !ok {
		return
	}
	for name, h := range d.collections[coll] {
		if v := h.at(t); v != nil && v.exists {
			fn(docAt{name: name, v: v})
		}
	}
}

// collectionOf is the collection path of a document name: the name
// without its last segment.
func collectionOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// toDocument renders a stored version as a Document, keeping only the
// fields in mask (nil: all fields).
func toDocument(name string, v *version, mask []fieldPath) *pb.Document {
	fields := v.fields
	if mask != nil {
		fields = projectFields(fields, mask)
	}
	return &pb.Document{
		Name:       name,
		Fields:     fields,
		CreateTime: timestamppb.New(v.created),
		UpdateTime: timestamppb.New(v.updated),
	}
}
