package store

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

// BudgetTx is the budget part of a transaction: project budgets, their
// monthly periods (project-wide and per user) and the cost ledger. It is
// embedded in Tx; package budget is its only intended user.
//
// Firestore model:
//
//	projects/{project}                                   Budget
//	projects/{project}/periods/{yyyy-mm}                 Period (UserID "")
//	projects/{project}/periods/{yyyy-mm}/users/{user}    Period (UserID set)
//	projects/{project}/periods/{yyyy-mm}/shards/{n}      Period (Shard n)
//	projects/{project}/periods/{yyyy-mm}/shards/{n}~{user}  Period (UserID, Shard n)
//	ledger/{job_id}-{attempt}                            LedgerEntry
type BudgetTx interface {
	// GetBudget reads a project's budget configuration. A project without
	// one gets the zero Budget with ProjectID set (no limit), never
	// NotFound.
	GetBudget(projectID string) (Budget, error)
	// PutBudget writes a project's budget configuration.
	PutBudget(b Budget) error
	// GetPeriod reads a project's period; absent means the zero Period with
	// ProjectID and ID set, never NotFound.
	GetPeriod(projectID, period string) (Period, error)
	// PutPeriod writes a project's period, its head or, with p.Shard set,
	// that shard; p.UserID must be "".
	PutPeriod(p Period) error
	// GetPeriodShard reads shard n (1 and up) of a project's period, or of
	// one user's when userID is set; absent means the zero Period with
	// ProjectID, ID, UserID and Shard set.
	GetPeriodShard(projectID, period, userID string, n int) (Period, error)
	// GetUserPeriod reads one user's share of a project's period; absent
	// means the zero Period with ProjectID, ID and UserID set.
	GetUserPeriod(projectID, period, userID string) (Period, error)
	// PutUserPeriod writes one user's period, its head or, with p.Shard
	// set, that shard; p.UserID must not be "".
	PutUserPeriod(p Period) error
	// GetPeriods reads period documents of a project in one round trip:
	// for each key its head (Shard 0) or shard, of the project (UserID "")
	// or of a user, absent ones zero as GetPeriod, GetUserPeriod and
	// GetPeriodShard answer. With cfg non-nil it reads the project's budget
	// configuration into *cfg too, as GetBudget does, in the same round
	// trip.
	GetPeriods(projectID string, keys []PeriodKey, cfg *Budget) ([]Period, error)
	// GetLedger reads a ledger entry; errclass.NotFound when absent.
	GetLedger(id string) (LedgerEntry, error)
	// CreateLedger writes a new ledger entry; the transaction fails with
	// errclass.Conflict when an entry with that id exists (at once or at
	// commit), so an attempt's cost is recorded exactly once.
	CreateLedger(e LedgerEntry) error
}

// PeriodKey names a budget document of a project's period (GetPeriods):
// the head (Shard 0) or a shard, of the project (UserID "") or of a user.
type PeriodKey struct {
	Period, UserID string
	Shard          int
}

// BudgetReader is the budget part of Store: reads outside transactions,
// for the API (budget view, usage, reconciliation). It is embedded in Store.
type BudgetReader interface {
	// GetBudget reads a project's budget configuration (zero when absent).
	GetBudget(ctx context.Context, projectID string) (Budget, error)
	// GetPeriod reads a project's period (zero when absent).
	GetPeriod(ctx context.Context, projectID, period string) (Period, error)
	// ListUserPeriods returns the user periods of a project's period,
	// sorted by user id (their head documents).
	ListUserPeriods(ctx context.Context, projectID, period string) ([]Period, error)
	// ListPeriodShards returns every shard of a project's period, the
	// project's and its users', sorted by user id then shard.
	ListPeriodShards(ctx context.Context, projectID, period string) ([]Period, error)
	// ListLedger returns a project's ledger entries matching q, ordered by
	// At, then ID. It returns every match (no paging): a month of one
	// project is the intended size.
	ListLedger(ctx context.Context, q LedgerQuery) ([]LedgerEntry, error)
}

// Budget is a project's budget configuration: projects/{project}.
type Budget struct {
	ProjectID string `json:"project_id"`
	// MonthlyLimit caps spent + reserved per calendar month (UTC); nil means
	// no limit (reservations are still tracked, so usage stays right).
	MonthlyLimit *money.Micros `json:"monthly_limit_usd"`
	// UserLimits caps each listed user's spent + reserved per month within
	// the project; users not listed are capped by the project limit only.
	UserLimits map[string]money.Micros `json:"users,omitempty"`
	// DefaultUserLimit, when set, caps every user without a limit of their
	// own in UserLimits: an unknown or re-spelled user id is capped too.
	DefaultUserLimit *money.Micros `json:"default_user_limit_usd,omitempty"`
	UpdatedAt        time.Time     `json:"updated_at"`
}

// Period is the money of one project (or of one user within a project)
// in one calendar month: projects/{project}/periods/{yyyy-mm} and
// .../users/{user}. Spent is settled cost; Reserved is the estimates of
// jobs not yet settled. Package budget keeps spent + reserved within the
// limit when it reserves.
type Period struct {
	ProjectID string       `json:"project_id"`
	ID        string       `json:"period"`            // "2026-11"
	UserID    string       `json:"user_id,omitempty"` // "" for the project's period
	Spent     money.Micros `json:"spent_usd"`
	Reserved  money.Micros `json:"reserved_usd"`
	// Notified lists the thresholds (percent of the limit) already
	// announced this period, ascending: each is announced once. On the
	// project's head document only.
	Notified []int `json:"notified,omitempty"`
	// ForecastNotified says that the projection of the period's spend
	// passing its limit (a budget.forecast event) was announced: once per
	// period. On the project's head document only.
	ForecastNotified bool `json:"forecast_notified,omitempty"`
	// Shard is 0 for the head document, 1 and up for the period's shards
	// (package budget spreads a period's reservations over them; see
	// budget's doc, "Shards").
	Shard int `json:"shard,omitempty"`
	// Allotment is what a shard may hold (spent + reserved) under the
	// limit GrantedUnder, which it was granted under (nil: none).
	Allotment    money.Micros  `json:"allotment_usd,omitempty"`
	GrantedUnder *money.Micros `json:"granted_under_usd,omitempty"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// LedgerEntry is the cost record of one job attempt: ledger/{job_id}-{attempt}.
// Its id makes it exactly-once.
type LedgerEntry struct {
	ID        string `json:"id"` // LedgerID(JobID, Attempt)
	JobID     string `json:"job_id"`
	Attempt   int    `json:"attempt"`
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id,omitempty"`
	Backend   string `json:"backend"`
	Model     string `json:"model,omitempty"`
	// Shape is what the job asked for (zero in entries written before
	// shapes were recorded), for the usage by shape (DayUsage.Shapes).
	Shape Shape `json:"shape,omitzero"`
	// Period is the month whose budget the attempt was reserved on and
	// charged to: the month of the attempt's dispatch.
	Period  string `json:"period"`
	Seconds int    `json:"seconds"`
	// Status is the attempt's status when it was settled (succeeded,
	// failed, canceled; or the status it had when its job ended).
	Status   job.AttemptStatus `json:"status"`
	Estimate money.Micros      `json:"estimate_usd"`
	Reserved money.Micros      `json:"reserved_usd"` // what the attempt held when it was settled
	Cost     money.Micros      `json:"cost_usd"`     // added to the period's spent
	Released money.Micros      `json:"released_usd"` // taken off the period's reserved
	// Carried is what stayed reserved for the job's next attempt
	// (failover): Reserved − Released.
	Carried money.Micros `json:"carried_usd"`
	// Final is set when the settlement ended the job (no further attempt).
	Final bool      `json:"final"`
	At    time.Time `json:"at"` // settlement time
	// How the attempt ended, from which (with Shape) package learn learns
	// the backend's figures: the attempt's error code ("" when it
	// succeeded), and its generation time, submit to end (0 when it was
	// never submitted).
	ErrorCode  string        `json:"error_code,omitempty"`
	Generation time.Duration `json:"generation,omitempty"`
}

// LedgerQuery selects a project's ledger entries. ProjectID is required;
// From and To (exclusive) bound At when not zero; Period, when set, keeps
// the entries of that period only.
type LedgerQuery struct {
	ProjectID string
	From, To  time.Time
	Period    string
}

// LedgerID is the ledger document id of attempt n of a job.
func LedgerID(jobID string, attempt int) string {
	return jobID + "-" + strconv.Itoa(attempt)
}

// ValidPeriodID reports whether s names a period: a calendar month as
// "yyyy-mm" (years 2000 to 9999).
func ValidPeriodID(s string) bool {
	if len(s) != 7 || s[4] != '-' {
		return false
	}
	for i, c := range []byte(s) {
		if i != 4 && (c < '0' || c > '9') {
			return false
		}
	}
	return s[:2] >= "20" && s[5:] >= "01" && s[5:] <= "12"
}

// CloneBudget returns a deep copy of b.
func CloneBudget(b Budget) Budget {
	if b.MonthlyLimit != nil {
		v := *b.MonthlyLimit
		b.MonthlyLimit = &v
	}
	if b.DefaultUserLimit != nil {
		v := *b.DefaultUserLimit
		b.DefaultUserLimit = &v
	}
	if b.UserLimits != nil {
		m := make(map[string]money.Micros, len(b.UserLimits))
		for k, v := range b.UserLimits {
			m[k] = v
		}
		b.UserLimits = m
	}
	b.UpdatedAt = NormalizeTime(b.UpdatedAt)
	return b
}

// ClonePeriod returns a deep copy of p with its time normalised and
// Notified sorted.
func ClonePeriod(p Period) Period {
	if p.GrantedUnder != nil {
		v := *p.GrantedUnder
		p.GrantedUnder = &v
	}
	if p.Notified != nil {
		p.Notified = slices.Clone(p.Notified)
		slices.Sort(p.Notified)
	}
	p.UpdatedAt = NormalizeTime(p.UpdatedAt)
	return p
}
