package budget

import (
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
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

// UsageGroup is one group of usage: the jobs that have ledger entries in
// the group, their outcome and their cost.
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

// Summarize groups ledger entries. A group's cost is the sum of its
// entries' costs. Its jobs are the distinct jobs with an entry in it; each
// counts as succeeded or failed by the status of its latest attempt in the
// group (a job that failed over from luma to runway is a failure of luma
// and a success of runway; for its user or day, a success). Canceled
// attempts count as jobs, neither succeeded nor failed. Groups are sorted
// by key.
func Summarize(entries []store.LedgerEntry, by GroupBy) (total money.Micros, groups []UsageGroup) {
	type jobKey struct{ group, job string }
	latest := map[jobKey]store.LedgerEntry{}
	byKey := map[string]*UsageGroup{}
	for _, e := range entries {
		var key string
		switch by {
		case GroupByUser:
			key = e.UserID
		case GroupByDay:
			key = e.At.UTC().Format("2006-01-02")
		default:
			key = e.Backend
		}
		g := byKey[key]
		if g == nil {
			g = &UsageGroup{Key: key}
			byKey[key] = g
		}
		g.Cost += e.Cost
		total += e.Cost
		k := jobKey{key, e.JobID}
		if prev, ok := latest[k]; !ok || e.Attempt > prev.Attempt {
			latest[k] = e
		}
	}
	for k, e := range latest {
		g := byKey[k.group]
		g.Jobs++
		switch e.Status {
		case job.AttemptSucceeded:
			g.Succeeded++
		case job.AttemptCanceled:
		default:
			g.Failed++
		}
	}
	groups = make([]UsageGroup, 0, len(byKey))
	for _, g := range byKey {
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b UsageGroup) int { return strings.Compare(a.Key, b.Key) })
	return total, groups
}
