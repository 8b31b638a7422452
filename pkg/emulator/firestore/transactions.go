package firestoreemu

import (
	"context"
	"encoding/binary"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Transactions
//
// A read-write transaction takes an exclusive lock on every document it
// reads (found or missing), as Firestore's pessimistic transactions do:
// another transaction reading the same document waits until the holder
// commits or rolls back. Deadlocks are detected when a transaction starts
// waiting; the youngest transaction of the cycle is aborted (a retried
// transaction keeps the age of its first attempt, so it eventually wins).
//
// Locks alone do not cover writes made outside transactions, nor phantoms in
// queries, so Commit also validates, atomically with applying the writes,
// that every document the transaction read still has the version it read
// and that every query it ran still returns the same documents at the same
// versions. If not, Commit answers ABORTED and the client retries. No update
// is ever lost; an abort is the price of a conflict.
//
// A read-only transaction reads a snapshot at its read time (its start, or
// the read_time it was given) and takes no locks.

const (
	// lockIdleTimeout is how long a transaction may hold locks wanted by
	// others while no request of it is in flight; then it is aborted.
	lockIdleTimeout = 10 * time.Second
	// txnExpiry is how long an idle transaction is remembered at all.
	txnExpiry = 10 * time.Minute
)

// txn is a transaction. Guarded by store.mu.
type txn struct {
	id       string // 16 bytes: priority, then sequence number (big endian)
	db       string
	priority uint64 // lower is older; wins deadlocks
	readOnly bool
	readTime time.Time // snapshot of a read-only transaction

	reads   map[string]time.Time // document name -> versionID read
	queries []queryRead          // query results read, re-checked at commit
	locks   map[string]bool      // documents locked by this transaction

	waitingFor string    // document whose lock it waits for, if any
	active     int       // requests in flight using it
	lastUsed   time.Time // when the last request using it started or ended
	err        error     // set once aborted or finished: every later use fails with it
}

// queryRead is a query (or listing) run in a read-write transaction: at
// commit, fingerprint must still return seen.
type queryRead struct {
	fingerprint func() string
	seen        string
}

func (t *txn) recordRead(name string, v *version) {
	if _, ok := t.reads[name]; !ok {
		t.reads[name] = versionID(v)
	}
}

// younger reports whether t should lose a deadlock against u.
func (t *txn) younger(u *txn) bool {
	if t.priority != u.priority {
		return t.priority > u.priority
	}
	return t.id > u.id
}

// BeginTransaction starts a transaction.
func (s *service) BeginTransaction(ctx context.Context, req *pb.BeginTransactionRequest) (*pb.BeginTransactionResponse, error) {
	db, err := parseDatabaseName(req.GetDatabase())
	if err != nil {
		return nil, err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	t, err := s.st.beginTxnLocked(db, req.GetOptions())
	if err != nil {
		return nil, err
	}
	return &pb.BeginTransactionResponse{Transaction: []byte(t.id)}, nil
}

// Rollback ends a transaction without writing.
func (s *service) Rollback(ctx context.Context, req *pb.RollbackRequest) (*emptypb.Empty, error) {
	db, err := parseDatabaseName(req.GetDatabase())
	if err != nil {
		return nil, err
	}
	if len(req.GetTransaction()) == 0 {
		return nil, invalidArgf("rollback: missing transaction")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	t, ok := s.st.txns[string(req.GetTransaction())]
	if !ok || t.db != db {
		return nil, invalidArgf("rollback: transaction %x is unknown, finished or expired", req.GetTransaction())
	}
	s.st.finishTxnLocked(t)
	return &emptypb.Empty{}, nil
}

func (st *store) beginTxnLocked(db string, opts *pb.TransactionOptions) (*txn, error) {
	st.sweepTxnsLocked()
	st.txnSeq++
	t := &txn{
		db:       db,
		priority: st.txnSeq,
		reads:    map[string]time.Time{},
		locks:    map[string]bool{},
		lastUsed: st.now(),
	}
	switch mode := opts.GetMode().(type) {
	case nil:
	case *pb.TransactionOptions_ReadWrite_:
		if retry := mode.ReadWrite.GetRetryTransaction(); len(retry) > 0 {
			if len(retry) != 16 {
				return nil, invalidArgf("invalid retry_transaction %x", retry)
			}
			t.priority = binary.BigEndian.Uint64(retry[:8])
		}
	case *pb.TransactionOptions_ReadOnly_:
		t.readOnly = true
		if rt := mode.ReadOnly.GetReadTime(); rt != nil {
			at, err := st.pastReadTimeLocked(rt)
			if err != nil {
				return nil, err
			}
			t.readTime = at
		} else {
			t.readTime = st.readTimeLocked()
		}
	}
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[:8], t.priority)
	binary.BigEndian.PutUint64(id[8:], st.txnSeq)
	t.id = string(id)
	st.txns[t.id] = t
	return t, nil
}

// txnLocked returns the live transaction id of database db.
func (st *store) txnLocked(db string, id []byte) (*txn, error) {
	t, ok := st.txns[string(id)]
	if !ok {
		return nil, invalidArgf("transaction %x is unknown, finished or expired", id)
	}
	if t.db != db {
		return nil, invalidArgf("transaction %x belongs to database %s, not %s", id, t.db, db)
	}
	if t.err != nil {
		return t, t.err
	}
	return t, nil
}

// useLocked marks a request using t as started; call doneLocked when it
// ends.
func (st *store) useLocked(t *txn) {
	t.active++
	t.lastUsed = st.now()
}

func (st *store) doneLocked(t *txn) {
	t.active--
	t.lastUsed = st.now()
	if t.active == 0 && len(t.locks) > 0 {
		st.broadcastLocked() // waiters re-arm their idle timers
	}
}

// acquireLocksLocked takes the exclusive locks of names for t, waiting for
// their holders as needed. It releases st.mu while waiting. An optimistic
// store (Optimistic) takes none.
func (st *store) acquireLocksLocked(ctx context.Context, t *txn, names []string) error {
	if st.optimistic {
		return nil
	}
	for _, name := range sortedUnique(names) {
		for {
			if t.err != nil {
				return t.err
			}
			holder := st.locks[name]
			if holder == nil {
				st.locks[name] = t
				t.locks[name] = true
				break
			}
			if holder == t {
				break
			}
			t.waitingFor = name
			if victim := st.deadlockVictimLocked(t, holder); victim != nil {
				t.waitingFor = ""
				st.abortTxnLocked(victim, abortedf("transaction aborted to break a deadlock on %s", name))
				continue
			}
			var idleTimer *time.Timer
			if holder.active == 0 {
				idle := st.now().Sub(holder.lastUsed)
				if idle >= lockIdleTimeout {
					t.waitingFor = ""
					st.abortTxnLocked(holder, abortedf("transaction aborted: idle for %s while holding locks others wait for", idle.Round(time.Second)))
					continue
				}
				idleTimer = time.NewTimer(lockIdleTimeout - idle)
			}
			released := st.released
			st.mu.Unlock()
			ctxErr := waitForRelease(ctx, released, idleTimer)
			st.mu.Lock()
			t.waitingFor = ""
			if ctxErr != nil {
				return contextStatus(ctxErr)
			}
		}
	}
	return nil
}

// deadlockVictimLocked follows the wait-for chain from holder (whose lock t
// is about to wait for). If the chain leads back to t, it returns the
// youngest transaction of the cycle.
func (st *store) deadlockVictimLocked(t, holder *txn) *txn {
	victim := t
	seen := map[*txn]bool{t: true}
	for h := holder; ; {
		if seen[h] {
			return nil // a cycle not through t: whoever closed it breaks it
		}
		seen[h] = true
		if h.younger(victim) {
			victim = h
		}
		if h.waitingFor == "" {
			return nil
		}
		next := st.locks[h.waitingFor]
		if next == nil {
			return nil
		}
		if next == t {
			return victim
		}
		h = next
	}
}

// waitForRelease blocks until a lock is released, the idle timer (if any)
// fires, or ctx ends; it returns ctx's error in the last case.
func waitForRelease(ctx context.Context, released <-chan struct{}, idleTimer *time.Timer) error {
	var fired <-chan time.Time
	if idleTimer != nil {
		defer idleTimer.Stop()
		fired = idleTimer.C
	}
	select {
	case <-released:
		return nil
	case <-fired:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *store) broadcastLocked() {
	close(st.released)
	st.released = make(chan struct{})
}

func (st *store) releaseLocksLocked(t *txn) {
	for name := range t.locks {
		if st.locks[name] == t {
			delete(st.locks, name)
		}
	}
	t.locks = map[string]bool{}
}

// abortTxnLocked dooms t: it loses its locks and every later use of it,
// including Commit, fails with err. It stays known until rolled back.
func (st *store) abortTxnLocked(t *txn, err error) {
	if t.err == nil {
		t.err = err
	}
	st.releaseLocksLocked(t)
	st.broadcastLocked()
}

// finishTxnLocked ends t (committed or rolled back) and forgets it.
func (st *store) finishTxnLocked(t *txn) {
	st.abortTxnLocked(t, invalidArgf("transaction %x is finished", t.id))
	delete(st.txns, t.id)
}

// sweepTxnsLocked forgets transactions unused for txnExpiry.
func (st *store) sweepTxnsLocked() {
	now := st.now()
	for _, t := range st.txns {
		if t.active == 0 && now.Sub(t.lastUsed) > txnExpiry {
			st.finishTxnLocked(t)
		}
	}
}

// validateLocked checks that nothing t read has changed since it read it.
func (st *store) validateLocked(t *txn) error {
	for name, seen := range t.reads {
		if !versionID(st.latestLocked(t.db, name)).Equal(seen) {
			return abortedf("transaction aborted: %s changed since the transaction read it", name)
		}
	}
	for _, q := range t.queries {
		if q.fingerprint() != q.seen {
			return abortedf("transaction aborted: the result of a query it ran has changed")
		}
	}
	return nil
}

// readTarget says at what time a read request reads, and in which
// read-write transaction, if any, it locks and records what it reads.
type readTarget struct {
	at     time.Time
	txn    *txn   // read-write transaction; at is set after locking
	newTxn []byte // transaction begun by the request, to be reported
}

// resolveReadLocked turns a request's consistency selector into a
// readTarget. A read-write transaction is marked in use: the caller must call
// st.doneLocked(target.txn) when done.
func (st *store) resolveReadLocked(db string, txID []byte, newTxn *pb.TransactionOptions, readTime *timestamppb.Timestamp) (readTarget, error) {
	var t *txn
	var target readTarget
	switch {
	case len(txID) > 0:
		var err error
		if t, err = st.txnLocked(db, txID); err != nil {
			return target, err
		}
	case newTxn != nil:
		var err error
		if t, err = st.beginTxnLocked(db, newTxn); err != nil {
			return target, err
		}
		target.newTxn = []byte(t.id)
	case readTime != nil:
		at, err := st.pastReadTimeLocked(readTime)
		if err != nil {
			return target, err
		}
		target.at = at
		return target, nil
	default:
		target.at = st.readTimeLocked()
		return target, nil
	}
	if t.readOnly {
		if t.readTime.Before(st.nowMicros().Add(-st.retention)) {
			return target, failedPreconditionf("read-only transaction %x is older than the version retention period (%s)", []byte(t.id), st.retention)
		}
		target.at = t.readTime
		t.lastUsed = st.now()
		return target, nil
	}
	st.useLocked(t)
	target.txn = t
	return target, nil
}

// read runs fn, under the store's lock, at the consistency a read request
// selects (a transaction, a new one, a read time, or now), then ends a
// read-write transaction's use. It returns the id of a transaction the
// request began, to be reported, and fn's error.
func (st *store) read(db string, txID []byte, newTxn *pb.TransactionOptions, readTime *timestamppb.Timestamp, fn func(target readTarget) error) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	target, err := st.resolveReadLocked(db, txID, newTxn, readTime)
	if err != nil {
		return nil, err
	}
	if target.txn != nil {
		defer st.doneLocked(target.txn)
	}
	return target.newTxn, fn(target)
}
