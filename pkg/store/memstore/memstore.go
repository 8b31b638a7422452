// Package memstore is an in-memory store.Store for unit tests. It is not for
// production: nothing is persisted and every transaction takes one global
// lock.
//
// # Transactions
//
// RunTx holds the store's lock for the whole of fn, so transactions are
// serializable and never conflict. Consequently fn must not call the Store
// itself (GetJob, ListJobs, RunTx, ...) — only the Tx it is given — or it
// deadlocks. Writes are buffered in the Tx and applied when fn returns nil;
// as in Firestore, a read after a write in the same Tx is an error.
//
// # Copies and precision
//
// Jobs and other values are deep-copied on the way in and out, so callers
// never alias stored state. Times are stored as Firestore stores them: in
// UTC, truncated to microseconds, so tests written against memstore hold
// against Firestore too.
package memstore

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/internal/cursor"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
// It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	closed   bool
	jobs     map[string]*job.Job
	events   map[string][]byte // job id → its events as written, encoded (events.go)
	backends map[string]store.BackendState
	keys     map[string]store.APIKey
	budget   budgetData                 // budget.go
	usage    usageData                  // usage.go
	replays  map[string]store.DLQReplay // replays.go

	slots map[string]store.SlotTable    // backend → its slots and waiting marks (slots.go)
	stats map[string]store.BackendStats // backend → what was learned of it (learned.go)

	webhooks      webhookData                    // webhooks.go
	notifications map[string]store.Notifications // project → settings (notifications.go)
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		jobs:     map[string]*job.Job{},
		events:   map[string][]byte{},
		backends: map[string]store.BackendState{},
		keys:     map[string]store.APIKey{},
		replays:  map[string]store.DLQReplay{},
	}
}

// errClosed is returned by every method after Close.
var errClosed = errclass.New(errclass.Permanent, "memstore: store is closed")

// lock takes the store's lock unless ctx is done or the store is closed.
// On success the caller must unlock.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errclass.Wrap(errclass.Retryable, err, "memstore")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// RunTx runs fn with the store locked; see the package doc. fn's error is
// returned as is and nothing is written; otherwise fn's writes are applied
// all at once.
func (s *Store) RunTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	t := &tx{s: s}
	t.writes = t.inline[:0]
	defer func() { t.done = true }()
	if err := fn(t); err != nil {
		return err
	}
	if t.readAfterWrite {
		// fn ignored the error of its read: fail as Firestore does.
		return errclass.New(errclass.Permanent, "memstore: read after write in a transaction")
	}
	// Check creates against the committed state once more, as Firestore does
	// at commit: a create of a job created earlier in this Tx conflicts.
	seen := map[string]bool{}
	for _, w := range t.writes {
		if w.create {
			if _, ok := s.jobs[w.jobID]; ok || seen[w.jobID] {
				return errclass.New(errclass.Conflict, "memstore: job %s already exists", w.jobID)
			}
		}
		if w.jobID != "" {
			seen[w.jobID] = true
		}
	}
	for _, w := range t.writes {
		w.apply(s)
	}
	return nil
}

// GetJob returns a copy of job id; errclass.NotFound when absent.
func (s *Store) GetJob(ctx context.Context, id string) (*job.Job, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.getJob(id)
}

func (s *Store) getJob(id string) (*job.Job, error) {
	j, ok := s.jobs[id]
	if !ok {
		return nil, errclass.New(errclass.NotFound, "job %s not found", id)
	}
	return j.Clone(), nil
}

// ListJobs returns a page of the jobs q selects, newest first.
func (s *Store) ListJobs(ctx context.Context, q store.ListJobsQuery) (store.JobPage, error) {
	limit, after, err := checkQuery(q)
	if err != nil {
		return store.JobPage{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.JobPage{}, err
	}
	defer s.mu.Unlock()

	var all []*job.Job
	for _, j := range s.jobs {
		if q.Matches(j) && (after == nil || before(j, after)) {
			all = append(all, j)
		}
	}
	slices.SortFunc(all, func(a, b *job.Job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	page := store.JobPage{Jobs: []*job.Job{}}
	for i, j := range all {
		if i == limit {
			last := page.Jobs[limit-1]
			page.NextPageToken = store.PageTokenAfter(last)
			break
		}
		page.Jobs = append(page.Jobs, j.Clone())
	}
	return page, nil
}

// before reports whether j comes after the cursor c in the order
// created_at desc, id desc.
func before(j *job.Job, c *cursor.Cursor) bool {
	if cmp := j.CreatedAt.Compare(c.CreatedAt); cmp != 0 {
		return cmp < 0
	}
	return j.ID < c.ID
}

// checkQuery validates q and returns its effective limit and decoded cursor.
func checkQuery(q store.ListJobsQuery) (int, *cursor.Cursor, error) {
	limit, err := q.Validate()
	if err != nil || q.PageToken == "" {
		return limit, nil, err
	}
	c, err := cursor.Decode(q.PageToken)
	if err != nil {
		return 0, nil, err
	}
	return limit, &c, nil
}

// ListEvents returns a job's events ordered by event id; none for an
// unknown job.
func (s *Store) ListEvents(ctx context.Context, jobID string) ([]store.Event, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return decodeEvents(s.events[jobID]), nil
}

// ListBackends returns every stored backend state, sorted by name.
func (s *Store) ListBackends(ctx context.Context) ([]store.BackendState, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.backends))
	out := make([]store.BackendState, 0, len(names))
	for _, n := range names {
		out = append(out, s.backends[n])
	}
	return out, nil
}

// GetAPIKey returns the key record with the given hash; errclass.NotFound
// when absent.
func (s *Store) GetAPIKey(ctx context.Context, hash string) (store.APIKey, error) {
	if err := s.lock(ctx); err != nil {
		return store.APIKey{}, err
	}
	defer s.mu.Unlock()
	k, ok := s.keys[hash]
	if !ok {
		return store.APIKey{}, errclass.New(errclass.NotFound, "api key not found")
	}
	return k, nil
}

// ListAPIKeys returns the keys of projectID, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string) ([]store.APIKey, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.APIKey{}
	for _, k := range s.keys {
		if k.ProjectID == projectID {
			out = append(out, k)
		}
	}
	store.SortAPIKeys(out)
	return out, nil
}

// Close makes every later call fail. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// tx is a memstore transaction: reads see the committed state (the store
// is locked), writes are buffered until fn returns nil.
type tx struct {
	s              *Store
	writes         []write
	inline         [6]write // writes' first array: a job's transaction writes about this many
	readAfterWrite bool     // a read after a write was refused: fail the commit
	done           bool
	ledgerCreates  map[string]bool // ledger ids created in this tx (budget.go)
}

// write is one buffered write.
type write struct {
	jobID  string // set for job writes
	create bool
	apply  func(s *Store)
}

var _ store.Tx = (*tx)(nil)

var errTxDone = errclass.New(errclass.Permanent, "memstore: transaction used after RunTx returned")

// checkRead fails a read after RunTx returned or after a write.
func (t *tx) checkRead() error {
	if t.done {
		return errTxDone
	}
	if len(t.writes) > 0 {
		t.readAfterWrite = true
		return errclass.New(errclass.Permanent, "memstore: read after write in a transaction")
	}
	return nil
}

// checkWrite fails a write after RunTx returned, or of a document whose id
// (the what's) Firestore would reject.
func (t *tx) checkWrite(what, id string) error {
	if t.done {
		return errTxDone
	}
	return checkID(what, id)
}

func (t *tx) addWrite(w write) {
	t.writes = append(t.writes, w)
}

func (t *tx) GetJob(id string) (*job.Job, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	return t.s.getJob(id)
}

func (t *tx) CreateJob(j *job.Job) error {
	if err := t.checkWrite("job", j.ID); err != nil {
		return err
	}
	if _, ok := t.s.jobs[j.ID]; ok {
		return errclass.New(errclass.Conflict, "memstore: job %s already exists", j.ID)
	}
	c := normJob(j)
	t.addWrite(write{jobID: c.ID, create: true, apply: func(s *Store) { s.jobs[c.ID] = c }})
	return nil
}

func (t *tx) PutJob(j *job.Job) error {
	if err := t.checkWrite("job", j.ID); err != nil {
		return err
	}
	c := normJob(j)
	t.addWrite(write{jobID: c.ID, apply: func(s *Store) { s.jobs[c.ID] = c }})
	return nil
}

func (t *tx) GetBackend(name string) (store.BackendState, error) {
	if err := t.checkRead(); err != nil {
		return store.BackendState{}, err
	}
	if b, ok := t.s.backends[name]; ok {
		return b, nil
	}
	return store.BackendState{Name: name}, nil
}

func (t *tx) PutBackend(b store.BackendState) error {
	if err := t.checkWrite("backend", b.Name); err != nil {
		return err
	}
	b.UpdatedAt = norm(b.UpdatedAt)
	b.Breaker.OpenedAt = norm(b.Breaker.OpenedAt)
	b.Breaker.ProbeStartedAt = norm(b.Breaker.ProbeStartedAt)
	t.addWrite(write{apply: func(s *Store) { s.backends[b.Name] = b }})
	return nil
}

func (t *tx) AddEvent(jobID string, e store.Event) error {
	if err := t.checkWrite("job", jobID); err != nil {
		return err
	}
	e.At = norm(e.At)
	if e.ID == "" {
		at := e.At
		if at.IsZero() {
			at = time.Now()
		}
		e.ID = store.NewEventID(at)
	}
	if err := checkID("event", e.ID); err != nil {
		return err
	}
	t.addWrite(write{apply: func(s *Store) { s.events[jobID] = appendEvent(s.events[jobID], e) }})
	return nil
}

func (t *tx) GetAPIKey(hash string) (store.APIKey, error) {
	if err := t.checkRead(); err != nil {
		return store.APIKey{}, err
	}
	k, ok := t.s.keys[hash]
	if !ok {
		return store.APIKey{}, errclass.New(errclass.NotFound, "api key not found")
	}
	return k, nil
}

func (t *tx) PutAPIKey(k store.APIKey) error {
	if err := t.checkWrite("api key hash", k.Hash); err != nil {
		return err
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = norm(k.CreatedAt), norm(k.ExpiresAt), norm(k.LastUsedAt)
	t.addWrite(write{apply: func(s *Store) { s.keys[k.Hash] = k }})
	return nil
}

// checkID rejects ids that Firestore would reject as document ids.
func checkID(what, id string) error {
	if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
		return errclass.New(errclass.Permanent, "memstore: invalid %s id %q", what, id)
	}
	return nil
}

// norm is store.NormalizeTime.
func norm(t time.Time) time.Time { return store.NormalizeTime(t) }

// normJob returns a deep copy of j with its times normalised.
func normJob(j *job.Job) *job.Job {
	c := j.Clone()
	store.NormalizeTimes(c)
	return c
}
