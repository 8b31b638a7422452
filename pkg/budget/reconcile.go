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
	r := Report{ProjectID: period.ProjectID, Period: period.ID, Spent: period.Spent, Reserved: period.Reserved, Differences: []Difference{}}
	diff := func(d Difference) { r.Differences = append(r.Differences, d) }

	entries := map[string]store.LedgerEntry{}
	userSpent := map[string]money.Micros{}
	for _, e := range ledger {
		if e.ProjectID != period.ProjectID || e.Period != period.ID {
			continue
		}
		entries[e.ID] = e
		r.LedgerEntries++
		r.LedgerTotal += e.Cost
		if e.UserID != "" {
			userSpent[e.UserID] += e.Cost
		}
	}
	seen := map[string]bool{}
	userHeld := map[string]money.Micros{}
	for _, j := range jobs {
		if j.ProjectID != period.ProjectID {
			continue
		}
		var sum money.Micros
		inPeriod := false
		for i := range j.Attempts {
			a := &j.Attempts[i]
			sum += a.Cost
			if PeriodOf(a.StartedAt) != period.ID {
				continue
			}
			inPeriod = true
			r.JobsCost += a.Cost
			id := store.LedgerID(j.ID, a.Number)
			e, ok := entries[id]
			seen[id] = ok
			last := a.Number == len(j.Attempts)
			switch {
			case !ok && mustBeSettled(j, a, last):
				diff(Difference{Kind: DiffMissingLedger, JobID: j.ID, Attempt: a.Number, Expected: a.Cost,
					Message: fmt.Sprintf("attempt %d of job %s (%s, job %s) has no ledger entry", a.Number, j.ID, a.Status, j.Status)})
			case ok && e.Cost != a.Cost:
				diff(Difference{Kind: DiffCost, JobID: j.ID, Attempt: a.Number, Expected: a.Cost, Actual: e.Cost,
					Message: fmt.Sprintf("ledger entry %s costs %s, the attempt %s", id, e.Cost, a.Cost)})
			}
			if last {
				held := a.Reserved
				if ok {
					held = e.Carried
					if j.Status.Terminal() {
						held = 0
					}
				}
				r.OpenReservations += held
				if j.UserID != "" {
					userHeld[j.UserID] += held
				}
			}
		}
		if inPeriod && sum != j.Cost {
			diff(Difference{Kind: DiffJobCost, JobID: j.ID, Expected: sum, Actual: j.Cost,
				Message: fmt.Sprintf("job %s costs %s, its attempts %s", j.ID, j.Cost, sum)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(entries)) {
		if !seen[id] {
			e := entries[id]
			diff(Difference{Kind: DiffOrphanLedger, JobID: e.JobID, Attempt: e.Attempt, Actual: e.Cost,
				Message: fmt.Sprintf("ledger entry %s names no attempt of a job of project %s started in %s", id, period.ProjectID, period.ID)})
		}
	}
	if r.LedgerTotal != period.Spent {
		diff(Difference{Kind: DiffSpent, Expected: r.LedgerTotal, Actual: period.Spent,
			Message: fmt.Sprintf("period spent %s, ledger total %s", period.Spent, r.LedgerTotal)})
	}
	if r.OpenReservations != period.Reserved {
		diff(Difference{Kind: DiffReserved, Expected: r.OpenReservations, Actual: period.Reserved,
			Message: fmt.Sprintf("period reserved %s, open reservations %s", period.Reserved, r.OpenReservations)})
	}
	stored := map[string]store.Period{}
	for _, u := range users {
		stored[u.UserID] = u
	}
	names := slices.Sorted(maps.Keys(stored))
	for u := range userSpent {
		names = append(names, u)
	}
	for u := range userHeld {
		names = append(names, u)
	}
	slices.Sort(names)
	for _, u := range slices.Compact(names) {
		p := stored[u]
		if p.Spent != userSpent[u] {
			diff(Difference{Kind: DiffSpent, UserID: u, Expected: userSpent[u], Actual: p.Spent,
				Message: fmt.Sprintf("user %q: period spent %s, ledger total %s", u, p.Spent, userSpent[u])})
		}
		if p.Reserved != userHeld[u] {
			diff(Difference{Kind: DiffReserved, UserID: u, Expected: userHeld[u], Actual: p.Reserved,
				Message: fmt.Sprintf("user %q: period reserved %s, open reservations %s", u, p.Reserved, userHeld[u])})
		}
	}
	slices.SortStableFunc(r.Differences, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.JobID, b.JobID), cmp.Compare(a.Attempt, b.Attempt))
	})
	return r
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
	p, err := st.GetPeriod(ctx, projectID, period)
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: read period: %w", err)
	}
	users, err := st.ListUserPeriods(ctx, projectID, period)
	if err != nil {
		return Report{}, fmt.Errorf("reconcile: list user periods: %w", err)
	}
	return Reconcile(p, users, ledger, jobs), nil
}
