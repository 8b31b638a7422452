// Package store is AIPROD's port to its source of truth: jobs, their event
// timelines, backend health, API keys, budgets with the cost ledger
// (budget.go), the outcomes of dead-letter replays (replays.go), and the
// notifier's webhook secrets and delivery states (webhooks.go).
//
// # Implementations
//
//   - store/firestorestore: Cloud Firestore through cloud.google.com/go/firestore,
//     in production and against the emulator (FIRESTORE_EMULATOR_HOST).
//   - store/memstore: in memory, for unit tests; not for production.
//
// Both pass the conformance suite in store/storetest.
//
// # Transactions
//
// Every change goes through RunTx, which runs fn in a serializable
// transaction: the reads fn makes are guaranteed unchanged at commit, or the
// transaction is retried (fn runs again) or fails with errclass.Conflict.
// fn must therefore have no side effects outside the Tx. As in Firestore,
// all reads of a transaction come before its writes: a Tx returns an error
// for a read after a write. Writes become visible at commit, all or none.
//
// Jobs are written through package jobwrite (budget settlement, one retry
// policy); UpdateBackend covers backend state. storetest.CreateJob and
// storetest.UpdateJob are raw writes for tests.
//
// # Values
//
// Stores keep times in UTC to the microsecond, as Firestore does
// (NormalizeTime); what a store returns never aliases what it holds.
//
// # Errors
//
// Absent entities are errclass.NotFound; an existing one on create is
// errclass.Conflict; transient trouble (unavailable, deadline) is
// errclass.Retryable. Implementations do not retry beyond what the client
// library does for transactions.
package store

import (
	"cmp"
	"context"
	"time"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store/internal/cursor"
)

// Store is the whole store.
type Store interface {
	// RunTx runs fn in one serializable transaction (see the package doc).
	RunTx(ctx context.Context, fn func(tx Tx) error) error

	// GetJob reads one job outside any transaction.
	GetJob(ctx context.Context, id string) (*job.Job, error)
	// ListJobs returns the jobs q selects, newest first (created_at, then
	// id, descending), one page at a time.
	ListJobs(ctx context.Context, q ListJobsQuery) (JobPage, error)
	// ListEvents returns a job's timeline in order.
	ListEvents(ctx context.Context, jobID string) ([]Event, error)
	// ListBackends returns the stored state of every backend that has one,
	// sorted by name. Backends never written are absent (and enabled, closed).
	ListBackends(ctx context.Context) ([]BackendState, error)
	// GetAPIKey looks up a key by the hex SHA-256 of its text.
	GetAPIKey(ctx context.Context, hash string) (APIKey, error)
	// CountJobs counts the jobs q's filters select (its Limit and
	// PageToken aside), at most upTo of them (upTo > 0): the routers count
	// the jobs dispatched to each backend and not yet running.
	CountJobs(ctx context.Context, q ListJobsQuery, upTo int) (int, error)
	// ListAPIKeys returns the keys of one project (revoked and expired ones
	// included), newest first (created_at desc, then hash); an empty slice
	// when it has none. It needs no composite index: one equality filter,
	// sorted in memory, as a project has few keys.
	ListAPIKeys(ctx context.Context, projectID string) ([]APIKey, error)

	// BudgetReader reads budgets, periods and the ledger (budget.go).
	BudgetReader
	// UsageReader reads the ledger's daily roll-ups (usage.go).
	UsageReader
	// LearnedReader reads what was learned of each backend (learned.go).
	LearnedReader
	// StaleJobs finds jobs that stopped changing (stale.go).
	StaleJobs
	// NotificationStore keeps projects' alert settings (notifications.go).
	NotificationStore
	// DLQReplays records outcomes of dead-letter replays (replays.go).
	DLQReplays

	Close() error
}

// Tx is a transaction's view of the store. It is valid only inside RunTx's fn.
type Tx interface {
	// GetJob reads a job; errclass.NotFound when absent.
	GetJob(id string) (*job.Job, error)
	// CreateJob writes a new job; the transaction fails with
	// errclass.Conflict when a job with that id exists (at once or at commit).
	CreateJob(j *job.Job) error
	// PutJob writes a job (created or replaced).
	PutJob(j *job.Job) error
	// GetBackend reads a backend's state; absent means the zero state with
	// Name set (enabled, circuit closed), never NotFound.
	GetBackend(name string) (BackendState, error)
	// PutBackend writes a backend's state.
	PutBackend(b BackendState) error
	// AddEvent appends an event to a job's timeline. The event's ID, if
	// empty, is assigned so that events sort by time.
	AddEvent(jobID string, e Event) error
	// GetAPIKey reads a key record by hash; errclass.NotFound when absent.
	GetAPIKey(hash string) (APIKey, error)
	// PutAPIKey writes an API key record.
	PutAPIKey(k APIKey) error
	// SlotTx reads and writes backend concurrency slots (slots.go).
	SlotTx
	// WebhookTx reads and writes webhook secrets and delivery states
	// (webhooks.go).
	WebhookTx

	// BudgetTx reads and writes budgets, periods and the ledger (budget.go).
	BudgetTx
	// UsageTx reads and writes the ledger's daily roll-ups (usage.go).
	UsageTx
	// LearnedTx reads and writes what was learned of each backend
	// (learned.go).
	LearnedTx
}

// ListJobsQuery selects a page of jobs, newest first (created_at, then id,
// descending). Its filters AND together; zero values do not filter.
//
// A query names one project (ProjectID) or, for operators only, every
// project (AllProjects): a query with neither, or with both, is
// errclass.Permanent, so that forgetting the project can never list
// another project's jobs (invariant 5).
//
// Implementations answer every combination of filters with equality
// filters on project_id, status, backend, error_code and user_id, a range
// on created_at and the order created_at desc, id desc. On Firestore each
// equality field has a composite index (field, created_at desc, __name__
// desc), which Firestore merges for any combination (indexes.json).
type ListJobsQuery struct {
	ProjectID   string     // one project's jobs; "" only with AllProjects
	AllProjects bool       // every project's jobs (admin search); ProjectID must be ""
	Status      job.Status // "" for every status
	Backend     string     // job.Job.Backend: the backend of the latest attempt
	ErrorCode   string     // job.Job.Error.Code
	UserID      string     // job.Job.UserID
	Since       time.Time  // created_at >= Since; zero: no lower bound
	Until       time.Time  // created_at < Until; zero: no upper bound
	Limit       int        // 1..MaxPageSize; 0 means DefaultPageSize
	PageToken   string     // from the previous page's NextPageToken; "" for the first
}

// Validate checks q and returns its effective limit: Limit, 0 meaning
// DefaultPageSize, capped at MaxPageSize. Errors are errclass.Permanent.
// It is for implementations, which decode PageToken themselves.
func (q ListJobsQuery) Validate() (int, error) {
	bad := func(format string, args ...any) (int, error) {
		return 0, errclass.New(errclass.Permanent, "list jobs: "+format, args...)
	}
	since, until := NormalizeTime(q.Since), NormalizeTime(q.Until)
	switch {
	case q.ProjectID == "" && !q.AllProjects:
		return bad("project id is required (or AllProjects)")
	case q.ProjectID != "" && q.AllProjects:
		return bad("project id %q and AllProjects are exclusive", q.ProjectID)
	case q.Status != "" && !q.Status.Valid():
		return bad("unknown status %q", q.Status)
	case q.Limit < 0:
		return bad("limit must be 0..%d, got %d", MaxPageSize, q.Limit)
	case !since.IsZero() && !until.IsZero() && !since.Before(until):
		return bad("since (%s) must be before until (%s)", since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	}
	return min(cmp.Or(q.Limit, DefaultPageSize), MaxPageSize), nil
}

// Matches reports whether j passes q's filters (not its page token), with
// times compared as stored (NormalizeTime). It is for implementations
// that filter in memory.
func (q ListJobsQuery) Matches(j *job.Job) bool {
	created := NormalizeTime(j.CreatedAt)
	code := ""
	if j.Error != nil {
		code = j.Error.Code
	}
	return (q.AllProjects || j.ProjectID == q.ProjectID) &&
		(q.Status == "" || j.Status == q.Status) &&
		(q.Backend == "" || j.Backend == q.Backend) &&
		(q.ErrorCode == "" || code == q.ErrorCode) &&
		(q.UserID == "" || j.UserID == q.UserID) &&
		(q.Since.IsZero() || !created.Before(NormalizeTime(q.Since))) &&
		(q.Until.IsZero() || created.Before(NormalizeTime(q.Until)))
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// JobPage is one page of jobs.
type JobPage struct {
	Jobs          []*job.Job
	NextPageToken string // "" on the last page
}

// BackendState is the stored, shared state of one backend: the admin's
// enabled flag and the circuit breaker.
type BackendState struct {
	Name string `json:"name"`
	// Disabled is set by an admin to drain the backend; the zero value is
	// enabled, as is a backend with no stored state.
	Disabled  bool            `json:"disabled"`
	Breaker   circuit.Breaker `json:"breaker"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Event is one entry of a job's timeline (job.Event, stored at
// jobs/{id}/events/{seq}).
type Event = job.Event

// APIKey is a stored API key; the key's text is never stored, only its
// hash and a short prefix of it (Prefix) to recognise it by.
type APIKey struct {
	Hash      string    `json:"hash"` // hex SHA-256 of the key text
	ProjectID string    `json:"project_id"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
	// Prefix is the first characters of the key (KeyPrefix), never enough
	// to use it; "" for keys stored before prefixes were.
	Prefix string `json:"prefix,omitempty"`
	// ExpiresAt is when the key stops working; zero: never.
	ExpiresAt time.Time `json:"expires_at"`
	// LastUsedAt is when the key last authenticated a request, to the
	// minute or so (the API writes it at most once a minute); zero: never.
	LastUsedAt time.Time `json:"last_used_at"`
}

// KeyIDLen is the length of an API key id (APIKey.ID).
const KeyIDLen = 12

// ID is the key's public identifier: the first KeyIDLen hex characters of
// its hash. It is not secret (it says nothing usable about the key) and
// identifies the key in listings, revocation and logs.
func (k APIKey) ID() string { return k.Hash[:min(KeyIDLen, len(k.Hash))] }

// Usable reports whether the key authenticates requests at now: it is not
// revoked, belongs to a project and has not expired (now < ExpiresAt).
func (k APIKey) Usable(now time.Time) bool {
	return !k.Revoked && k.ProjectID != "" && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// PageTokenAfter returns the page token of a listing that continues after
// j, in the order of ListJobs (created_at desc, id desc): for a caller that
// ends a page early (the API's byte cap).
func PageTokenAfter(j *job.Job) string {
	return cursor.Encode(cursor.Cursor{CreatedAt: NormalizeTime(j.CreatedAt), ID: j.ID})
}
