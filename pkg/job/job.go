package job

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
)

// Status is a job's lifecycle state.
type Status string

// The job states.
const (
	StatusQueued     Status = "queued"
	StatusDispatched Status = "dispatched"
	StatusRunning    Status = "running"
	StatusSucceeded  Status = "succeeded"
	StatusFailed     Status = "failed"
	StatusCanceled   Status = "canceled"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusQueued, StatusDispatched, StatusRunning, StatusSucceeded, StatusFailed, StatusCanceled}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Terminal reports whether s is final: succeeded, failed or canceled.
func (s Status) Terminal() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// legal lists the transitions out of each non-terminal state.
var legal = map[Status][]Status{
	StatusQueued:     {StatusDispatched, StatusFailed, StatusCanceled},
	StatusDispatched: {StatusRunning, StatusQueued, StatusSucceeded, StatusFailed, StatusCanceled},
	StatusRunning:    {StatusQueued, StatusSucceeded, StatusFailed, StatusCanceled},
}

// CanTransition reports whether a job may move from one status to another.
// Staying in the same status is not a transition.
func CanTransition(from, to Status) bool { return slices.Contains(legal[from], to) }

// Error codes of a failed job (Job.Error.Code) and of a failed attempt.
const (
	CodeBudgetExceeded     = "budget_exceeded"
	CodeNoBackend          = "no_backend"
	CodeBackendFailed      = "backend_failed"
	CodeInvalidRequest     = "invalid_request"
	CodeCanceled           = "canceled"
	CodeTimeout            = "timeout"
	CodeBackendUnavailable = "backend_unavailable" // attempt: retryable infrastructure failure
	CodeContentRejected    = "content_rejected"    // attempt and job: provider safety filter
)

// ErrorInfo is an error shown on a job or an attempt.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Attempt is one try of a job on one backend.
type Attempt struct {
	Number  int           `json:"attempt"`
	Backend string        `json:"backend"`
	Model   string        `json:"model,omitempty"`
	Status  AttemptStatus `json:"status"`
	// Handle is the backend's serialized handle of the generation, recorded
	// right after the provider accepted it. A worker that finds a Handle
	// resumes polling instead of submitting again.
	Handle        string       `json:"handle,omitempty"`
	Error         *ErrorInfo   `json:"error,omitempty"`
	EstimatedCost money.Micros `json:"estimated_cost_usd"`
	Reserved      money.Micros `json:"reserved_usd,omitempty"` // held on the budget of StartedAt's month (package budget)
	// BudgetShard is the shard of that month's budget that holds Reserved
	// (package budget, "Shards"); 0 for the period's head document, where
	// attempts reserved before shards existed hold theirs.
	BudgetShard     int          `json:"budget_shard,omitempty"`
	Cost            money.Micros `json:"cost_usd"`
	StartedAt       time.Time    `json:"started_at"`
	SubmittedAt     *time.Time   `json:"submitted_at,omitempty"`
	EndedAt         *time.Time   `json:"ended_at,omitempty"`
	LastProgressAt  *time.Time   `json:"last_progress_at,omitempty"`
	DurationSeconds int          `json:"duration_seconds,omitempty"` // billed duration asked of the backend
	// RetryAt, on a failed attempt, says the provider refused its submit
	// without taking it on (429, 503, connection refused): the backend may
	// serve this job again, from this time on (Retry-After or backoff).
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// NotBefore, on an attempt that retries a backend that refused an
	// earlier one, is when its worker may submit.
	NotBefore *time.Time `json:"not_before,omitempty"`
}

// Result is a finished job's output.
type Result struct {
	VideoURL        string `json:"video_url"`
	DurationSeconds int    `json:"duration_seconds"`
}

// Job is the stored record of one request; Firestore's copy is the truth.
type Job struct {
	ID             string       `json:"id"`
	ProjectID      string       `json:"project_id"`
	UserID         string       `json:"user_id,omitempty"`
	Status         Status       `json:"status"`
	Request        Request      `json:"request"`
	Backend        string       `json:"backend,omitempty"`
	Attempts       []Attempt    `json:"attempts"`
	EstimatedCost  money.Micros `json:"estimated_cost_usd"`
	Cost           money.Micros `json:"cost_usd"`
	Result         *Result      `json:"result,omitempty"`
	Error          *ErrorInfo   `json:"error,omitempty"`
	TraceID        string       `json:"trace_id,omitempty"`
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	// ExcludedBackends are backends that failed this job and must not be
	// routed to again.
	ExcludedBackends []string `json:"excluded_backends,omitempty"`
	// Redrives is how many times in a row the stuck-job sweeper (package
	// sweeper) re-drove the job, the last time at RedrivenAt; the count
	// only holds while nothing else changed the job since. Zero and nil
	// for a job never re-driven.
	Redrives    int        `json:"redrives,omitempty"`
	RedrivenAt  *time.Time `json:"redriven_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// New returns a queued job for a validated request. id may be "" for a
// fresh UUIDv4.
func New(id, projectID string, req Request, now time.Time) *Job {
	if id == "" {
		id = NewID()
	}
	return &Job{
		ID:        id,
		ProjectID: projectID,
		UserID:    req.UserID,
		Status:    StatusQueued,
		Request:   req,
		Attempts:  []Attempt{},
		CreatedAt: now.UTC(),
		UpdatedAt: now.UTC(),
	}
}

// Transition moves j to status `to` at `now`, or returns an errclass.Conflict
// error when the state machine forbids it. Entering a terminal status sets
// CompletedAt.
func (j *Job) Transition(to Status, now time.Time) error {
	if !CanTransition(j.Status, to) {
		return errclass.New(errclass.Conflict, "job %s: illegal transition %s → %s", j.ID, j.Status, to)
	}
	j.Status = to
	j.UpdatedAt = now.UTC()
	if to.Terminal() {
		t := now.UTC()
		j.CompletedAt = &t
	}
	return nil
}

// Fail moves j to failed with an error code and message.
func (j *Job) Fail(code, msg string, now time.Time) error {
	if err := j.Transition(StatusFailed, now); err != nil {
		return err
	}
	j.Error = &ErrorInfo{Code: code, Message: msg}
	return nil
}

// CurrentAttempt returns the latest attempt, or nil when there is none.
func (j *Job) CurrentAttempt() *Attempt {
	if len(j.Attempts) == 0 {
		return nil
	}
	return &j.Attempts[len(j.Attempts)-1]
}

// Attempt returns attempt number n (1-based), or nil.
func (j *Job) Attempt(n int) *Attempt {
	if n < 1 || n > len(j.Attempts) {
		return nil
	}
	return &j.Attempts[n-1]
}

// Clone returns a deep copy of j, safe to mutate.
func (j *Job) Clone() *Job {
	c := *j
	c.Request.Backends = slices.Clone(j.Request.Backends)
	if j.Request.Metadata != nil {
		c.Request.Metadata = make(map[string]string, len(j.Request.Metadata))
		for k, v := range j.Request.Metadata {
			c.Request.Metadata[k] = v
		}
	}
	if j.Request.MaxCostUSD != nil {
		v := *j.Request.MaxCostUSD
		c.Request.MaxCostUSD = &v
	}
	if j.Request.DeadlineSeconds != nil {
		v := *j.Request.DeadlineSeconds
		c.Request.DeadlineSeconds = &v
	}
	cp, times := j.cloneStorage()
	c.Attempts = cp.Attempts
	for i, a := range j.Attempts {
		c.Attempts[i] = a
		if a.Error != nil {
			e := *a.Error
			c.Attempts[i].Error = &e
		}
		c.Attempts[i].SubmittedAt = times.copy(a.SubmittedAt)
		c.Attempts[i].EndedAt = times.copy(a.EndedAt)
		c.Attempts[i].LastProgressAt = times.copy(a.LastProgressAt)
		c.Attempts[i].RetryAt = times.copy(a.RetryAt)
		c.Attempts[i].NotBefore = times.copy(a.NotBefore)
	}
	if j.Result != nil {
		r := *j.Result
		c.Result = &r
	}
	if j.Error != nil {
		e := *j.Error
		c.Error = &e
	}
	c.ExcludedBackends = slices.Clone(j.ExcludedBackends)
	c.CompletedAt = times.copy(j.CompletedAt)
	c.RedrivenAt = times.copy(j.RedrivenAt)
	*cp = c
	return cp
}

// cloneStorage allocates what a Clone of j is made of: the job, its
// attempts (len(j.Attempts) of them, never nil) and room for its times.
// Jobs with no attempt or one (most of them) get all three in one
// allocation, instead of one each.
func (j *Job) cloneStorage() (*Job, timeCopies) {
	n, t := len(j.Attempts), j.timePointers()
	switch {
	case n == 0 && t <= len(jobBlock0{}.times):
		b := new(jobBlock0)
		b.job.Attempts = b.attempts[:0:0]
		return &b.job, timeCopies{all: b.times[:0:t]}
	case n == 1 && t <= len(jobBlock1{}.times):
		b := new(jobBlock1)
		b.job.Attempts = b.attempts[:1:1]
		return &b.job, timeCopies{all: b.times[:0:t]}
	}
	return &Job{Attempts: make([]Attempt, n)}, timeCopies{all: make([]time.Time, 0, t)}
}

// jobBlock0 and jobBlock1 hold a clone of a job without attempts, and of a
// job with one, with room for their times. Appending to the clone's
// Attempts moves them out (their capacity is exactly their length).
type (
	jobBlock0 struct {
		job      Job
		attempts [0]Attempt
		times    [2]time.Time
	}
	jobBlock1 struct {
		job      Job
		attempts [1]Attempt
		times    [4]time.Time
	}
)

// timePointers counts j's non-nil time pointers.
func (j *Job) timePointers() int {
	n := 0
	count := func(ps ...*time.Time) {
		for _, p := range ps {
			if p != nil {
				n++
			}
		}
	}
	count(j.CompletedAt, j.RedrivenAt)
	for i := range j.Attempts {
		a := &j.Attempts[i]
		count(a.SubmittedAt, a.EndedAt, a.LastProgressAt, a.RetryAt, a.NotBefore)
	}
	return n
}

// timeCopies hands out copies of times in one preallocated array, whose
// capacity must hold them all (appending never moves it).
type timeCopies struct{ all []time.Time }

func (tc *timeCopies) copy(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	tc.all = append(tc.all, *p)
	return &tc.all[len(tc.all)-1]
}

// idempotencyNamespace is the UUIDv5 namespace of AIPROD idempotency keys.
var idempotencyNamespace = uuid.MustParse("6f1c3a8e-2b4d-4e0a-9c55-0b9d2f7e4a10")

// NewID returns a fresh random job id (UUIDv4).
func NewID() string { return uuid.NewString() }

// IDForKey returns the job id that an idempotency key names within a project:
// the UUIDv5 of "project\x00key". The same pair always gives the same id.
func IDForKey(projectID, key string) string {
	return uuid.NewSHA1(idempotencyNamespace, []byte(projectID+"\x00"+key)).String()
}

// ProjectIDPattern is the form of a project id: 1 to 63 lower-case
// letters, digits and dashes, not starting with a dash.
const ProjectIDPattern = `^[a-z0-9][a-z0-9-]{0,62}$`

var projectRE = regexp.MustCompile(ProjectIDPattern)

// ValidProjectID reports whether s is a well-formed project id: what the
// API, the router (for requests published straight to aiprod-jobs) and
// the stores accept.
func ValidProjectID(s string) bool { return projectRE.MatchString(s) }

// ValidID reports whether s has the form of a job id.
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// String is for logs.
func (j *Job) String() string { return fmt.Sprintf("job %s (%s, %s)", j.ID, j.ProjectID, j.Status) }
