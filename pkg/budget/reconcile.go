package budget

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Kinds of Difference.
const (
	DiffMissingLedger = "missing_ledger_entry" // a settled attempt has no ledger entry
	DiffOrphanLedger  = "orphan_ledger_entry"  // a ledger entry names no attempt of a job of the project
	DiffCost          = "cost_mismatch"        // ledger entry cost ≠ attempt cost
	DiffJobCost       = "job_cost_mismatch"    // job cost ≠ sum of its attempts' costs
	DiffSpent         = "spent_mismatch"       // period spent ≠ ledger total
	DiffReserved      = "reserved_mismatch"    // period reserved ≠ open reservations
)

// Difference is one inconsistency found by Reconcile.
type Difference struct {
	Kind     string       `json:"kind"`
	JobID    string       `json:"job_id,omitempty"`
	Attempt  int          `json:"attempt,omitempty"`
	UserID   string       `json:"user_id,omitempty"`
	Expected money.Micros `json:"expected_usd"`
	Actual   money.Micros `json:"actual_usd"`
	Message  string       `json:"message"`
}

// Report is the outcome of reconciling one project's period.
type Report struct {
	ProjectID string `json:"project_id"`
	Period    string `json:"period"`
	// LedgerEntries and LedgerTotal are the period's ledger entries and the
	// sum of their costs.
	LedgerEntries int          `json:"ledger_entries"`
	LedgerTotal   money.Micros `json:"ledger_total_usd"`
	// JobsCost is the sum of the costs of the project's attempts started in
	// the period.
	JobsCost money.Micros `json:"jobs_cost_usd"`
	// Spent and Reserved are the period document's.
	Spent    money.Micros `json:"spent_usd"`
	Reserved money.Micros `json:"reserved_usd"`
	// OpenReservations is what the project's unfinished jobs hold in the
	// period, by their attempts and ledger entries.
	OpenReservations money.Micros `json:"open_reservations_usd"`
	Differences      []Difference `json:"differences"`
}

// Reconcile checks one period of a project: every attempt started in the
// period that ended (or whose job ended, or that was followed by another)
// has a ledger entry with its cost; every ledger entry of the period is
// such an attempt; each job's cost is the sum of its attempts' costs; the
// period's spent is the ledger total; its reserved is what the unfinished
// jobs hold; and the same per user. jobs are the project's jobs (others
// are ignored). It is pure: Check reads the inputs from a store.
//
// An attempt still running at the provider when its job was canceled is
// counted as holding its reservation (the worker settles it with what the
// provider bills), not as a missing ledger entry.
func Reconcile(period store.Period, users []store.Period, ledger []store.LedgerEntry, jobs []*job.Job) Report {
	rc := newReconciler(period, ledger)
	for _, j := range jobs {
		if j.ProjectID == period.ProjectID {
			rc.checkJob(j)
		}
	}
	rc.checkOrphans()
	rc.checkPeriod()
	rc.checkUsers(users)
	slices.SortStableFunc(rc.r.Differences, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.JobID, b.JobID), cmp.Compare(a.Attempt, b.Attempt))
	})
	return rc.r
}

// reconciler is the state of one Reconcile.
type reconciler struct {
	period    store.Period
	r         Report
	entries   map[string]store.LedgerEntry // the period's ledger, by id
	seen      map[string]bool              // ledger ids an attempt names
	userSpent map[string]money.Micros      // ledger total by user
	userHeld  map[string]money.Micros      // open reservations by user
}

// newReconciler starts the report with the period's ledger entries.
func newReconciler(period store.Period, ledger []store.LedgerEntry) *reconciler {
	rc := &reconciler{
		period:    period,
		r:         Report{ProjectID: period.ProjectID, Period: period.ID, Spent: period.Spent, Reserved: period.Reserved, Differences: []Difference{}},
		entries:   map[string]store.LedgerEntry{},
		seen:      map[string]bool{},
		userSpent: map[string]money.Micros{},
		userHeld:  map[string]money.Micros{},
	}
	for _, e := range ledger {
		if e.ProjectID != period.ProjectID || e.Period != period.ID {
			continue
		}
		rc.entries[e.ID] = e
		rc.r.LedgerEntries++
		rc.r.LedgerTotal += e.Cost
		if e.UserID != "" {
			rc.userSpent[e.UserID] += e.Cost
		}
	}
	return rc
}

func (rc *reconciler) diff(d Difference) { rc.r.Differences = append(rc.r.Differences, d) }

// checkJob checks the attempts of j started in the period against the
// ledger, counts what the last one holds, and checks j's cost.
func (rc *reconciler) checkJob(j *job.Job) {
	var sum money.Micros
	inPeriod := false
	for i := range j.Attempts {
		a := &j.Attempts[i]
		sum += a.Cost
		if PeriodOf(a.StartedAt) != rc.period.ID {
			continue
		}
		inPeriod = true
		rc.checkAttempt(j, a)
	}
	if inPeriod && sum != j.Cost {
		rc.diff(Difference{Kind: DiffJobCost, JobID: j.ID, Expected: sum, Actual: j.Cost,
			Message: fmt.Sprintf("job %s costs %s, its attempts %s", j.ID, j.Cost, sum)})
	}
}

// checkAttempt checks the ledger entry of attempt a of j, started in the
// period, and counts what a holds when it is j's last.
func (rc *reconciler) checkAttempt(j *job.Job, a *job.Attempt) {
	rc.r.JobsCost += a.Cost
	id := store.LedgerID(j.ID, a.Number)
	e, ok := rc.entries[id]
	rc.seen[id] = ok
	last := a.Number == len(j.Attempts)
	switch {
	case !ok && mustBeSettled(j, a, last):
		rc.diff(Difference{Kind: DiffMissingLedger, JobID: j.ID, Attempt: a.Number, Expected: a.Cost,
			Message: fmt.Sprintf("attempt %d of job %s (%s, job %s) has no ledger entry", a.Number, j.ID, a.Status, j.Status)})
	case ok && e.Cost != a.Cost:
		rc.diff(Difference{Kind: DiffCost, JobID: j.ID, Attempt: a.Number, Expected: a.Cost, Actual: e.Cost,
			Message: fmt.Sprintf("ledger entry %s costs %s, the attempt %s", id, e.Cost, a.Cost)})
	}
	if !last {
		return
	}
	held := a.Reserved
	if ok {
		held = e.Carried
		if j.Status.Terminal() {
			held = 0
		}
	}
	rc.r.OpenReservations += held
	if j.UserID != "" {
		rc.userHeld[j.UserID] += held
	}
}

// checkOrphans reports the ledger entries no attempt named.
func (rc *reconciler) checkOrphans() {
	for _, id := range slices.Sorted(maps.Keys(rc.entries)) {
		if !rc.seen[id] {
			e := rc.entries[id]
			rc.diff(Difference{Kind: DiffOrphanLedger, JobID: e.JobID, Attempt: e.Attempt, Actual: e.Cost,
				Message: fmt.Sprintf("ledger entry %s names no attempt of a job of project %s started in %s", id, rc.period.ProjectID, rc.period.ID)})
		}
	}
}

// checkPeriod checks the period's spent and reserved against the ledger
// and the open reservations.
func (rc *reconciler) checkPeriod() {
	p, r := rc.period, &rc.r
	if r.LedgerTotal != p.Spent {
		rc.diff(Difference{Kind: DiffSpent, Expected: r.LedgerTotal, Actual: p.Spent,
			Message: fmt.Sprintf("period spent %s, ledger total %s", p.Spent, r.LedgerTotal)})
	}
	if r.OpenReservations != p.Reserved {
		rc.diff(Difference{Kind: DiffReserved, Expected: r.OpenReservations, Actual: p.Reserved,
			Message: fmt.Sprintf("period reserved %s, open reservations %s", p.Reserved, r.OpenReservations)})
	}
}

// checkUsers does checkPeriod for every user with a stored period, ledger
// entries or open reservations.
func (rc *reconciler) checkUsers(users []store.Period) {
	stored := map[string]store.Period{}
	for _, u := range users {
		stored[u.UserID] = u
	}
	names := slices.Collect(maps.Keys(stored))
	names = slices.AppendSeq(names, maps.Keys(rc.userSpent))
	names = slices.AppendSeq(names, maps.Keys(rc.userHeld))
	slices.Sort(names)
	for _, u := range slices.Compact(names) {
		p, spent, held := stored[u], rc.userSpent[u], rc.userHeld[u]
		if p.Spent != spent {
			rc.diff(Difference{Kind: DiffSpent, UserID: u, Expected: spent, Actual: p.Spent,
				Message: fmt.Sprintf("user %q: period spent %s, ledger total %s", u, p.Spent, spent)})
		}
		if p.Reserved != held {
			rc.diff(Difference{Kind: DiffReserved, UserID: u, Expected: held, Actual: p.Reserved,
				Message: fmt.Sprintf("user %q: period reserved %s, open reservations %s", u, p.Reserved, held)})
		}
	}
}

// mustBeSettled reports whether attempt a of j must have a ledger entry:
// it ended, or a later attempt followed it, or its job ended while it had
// not reached the provider. An attempt running at the provider when its job
// was canceled waits for the worker to settle it.
func mustBeSettled(j *job.Job, a *job.Attempt, last bool) bool {
	switch {
	case a.Status.Finished(), !last:
		return true
	case !j.Status.Terminal():
		return false
	default:
		return a.Status != job.AttemptRunning && a.Status != job.AttemptSubmitting
	}
}

// Check reads one period of a project from st and reconciles it (see
// Reconcile). The reads are not one snapshot: run it when the project is
// quiet, or expect jobs in flight to show as transient differences.
func Check(ctx context.Context, st store.Store, projectID, period string) (Report, error) {
	if !store.ValidPeriodID(period) {
		return Report{}, errclass.New(errclass.Permanent, "period %q: want yyyy-mm", period)
	}
	ledger, err := st.ListLedger(ctx, store.LedgerQuery{ProjectID: projectID, Period: period})
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: list ledger: %w", err)
	}
	var jobs []*job.Job
	q := store.ListJobsQuery{ProjectID: projectID, Limit: store.MaxPageSize}
	for {
		page, err := st.ListJobs(ctx, q)
		if err != nil {
			return Report{}, fmt.Errorf("reconcile: list jobs: %w", err)
		}
		jobs = append(jobs, page.Jobs...)
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	// Read the period after the jobs: a job settled meanwhile then shows
	// as a difference of its own, not as a silent one.
	p, users, err := ReadPeriod(ctx, st, projectID, period)
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: read period: %w", err)
	}
	return Reconcile(p, users, ledger, jobs), nil
}
