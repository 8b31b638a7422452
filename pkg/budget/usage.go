package budget

import (
	"slices"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// GroupBy is how usage is grouped.
type GroupBy string

// The groupings of GET /v1/usage.
const (
	GroupByBackend GroupBy = "backend"
	GroupByUser    GroupBy = "user"
	GroupByDay     GroupBy = "day" // UTC date of settlement, "2026-11-25"
)

// GroupBys lists every grouping.
var GroupBys = []GroupBy{GroupByBackend, GroupByUser, GroupByDay}

// ParseGroupBy reads a grouping; "" is GroupByBackend. An unknown one is
// errclass.Permanent.
func ParseGroupBy(s string) (GroupBy, error) {
	if s == "" {
		return GroupByBackend, nil
	}
	if g := GroupBy(s); slices.Contains(GroupBys, g) {
		return g, nil
	}
	return "", errclass.New(errclass.Permanent, "group_by must be one of backend, user, day; got %q", s)
}

// UsageGroup is one group of usage: its cost (every settled attempt in
// the group) and its jobs by outcome. For a backend, its jobs are the
// attempts it settled (a job that failed over from luma to runway is a
// failure of luma and a success of runway); for a user or a day, the jobs
// that ended (their last attempt settled), counted once, by how they ended,
// on the day they ended. Canceled jobs count as jobs, neither succeeded
// nor failed. See Tally.
type UsageGroup struct {
	Key       string       `json:"key"` // backend name, user id ("" for jobs without one) or day
	Jobs      int          `json:"jobs"`
	Succeeded int          `json:"succeeded"`
	Failed    int          `json:"failed"`
	Cost      money.Micros `json:"cost_usd"`
}

// SuccessRate returns succeeded / jobs in percent, rounded down (0 for no
// jobs). It is an integer so that no float appears near money.
func (g UsageGroup) SuccessRate() int {
	if g.Jobs == 0 {
		return 0
	}
	return g.Succeeded * 100 / g.Jobs
}

// Summarize groups ledger entries as Tally.Groups does.
func Summarize(entries []store.LedgerEntry, by GroupBy) (total money.Micros, groups []UsageGroup) {
	t := NewTally()
	for _, e := range entries {
		t.AddEntry(e)
	}
	return t.Groups(by)
}
