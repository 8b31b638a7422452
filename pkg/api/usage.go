package api

import (
	"net/http"
	"time"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/money"
)

// MaxUsageRange bounds the time range of one GET /v1/usage.
const MaxUsageRange = 366 * 24 * time.Hour

// Usage is the body of GET /v1/usage. From and To (exclusive) are the range
// of settlement times covered.
type Usage struct {
	From      time.Time           `json:"from"`
	To        time.Time           `json:"to"`
	GroupBy   budget.GroupBy      `json:"group_by"`
	TotalCost money.Micros        `json:"total_cost_usd"`
	Groups    []budget.UsageGroup `json:"groups"`
}

// getUsage is GET /v1/usage?from=&to=&group_by=backend|user|day: the
// project's settled cost and jobs (see budget.UsageGroup), by default over
// the current month, from the ledger's daily roll-ups (budget.Usage). from and to are RFC 3339 times or
// dates (yyyy-mm-dd, UTC); a date as to includes that day.
func (s *Server) getUsage(w http.ResponseWriter, r *http.Request, project string) error {
	q := r.URL.Query()
	by, err := budget.ParseGroupBy(q.Get("group_by"))
	if err != nil {
		return invalid("group_by", "must be one of backend, user, day; got %q", q.Get("group_by"))
	}
	from, to, err := budget.PeriodBounds(budget.PeriodOf(s.cfg.Now()))
	if err != nil {
		return err
	}
	if v := q.Get("from"); v != "" {
		if from, err = parseInstant("from", v, false); err != nil {
			return err
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseInstant("to", v, true); err != nil {
			return err
		}
	}
	switch {
	case !to.After(from):
		return invalid("to", "must be after from (%s), got %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.Sub(from) > MaxUsageRange:
		return invalid("to", "the range may span at most 366 days")
	}
	tally, err := budget.Usage(r.Context(), s.cfg.Store, project, from, to)
	if err != nil {
		return unexpected(err, "read usage")
	}
	total, groups := tally.Groups(by)
	s.writeJSON(w, r, http.StatusOK, Usage{From: from, To: to, GroupBy: by, TotalCost: total, Groups: groups})
	return nil
}

// parseInstant reads an RFC 3339 time or a UTC date; a date given as the
// end of a range means the end of that day.
func parseInstant(field, v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, invalid(field, "must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), got %q", v)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// reconcile is GET /v1/admin/reconcile?project=&period=: the consistency
// report of a project's month (budget.Check), default the current month.
// It answers 200 whether or not there are differences; the CLI turns
// differences into its exit status.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) error {
	project := r.URL.Query().Get("project")
	if !ValidProjectID(project) {
		return invalid("project", "must match %s, got %q", projectRE, project)
	}
	period, err := s.periodParam(r)
	if err != nil {
		return err
	}
	infoOf(r.Context()).project = project
	rep, err := budget.Check(r.Context(), s.cfg.Store, project, period)
	if err != nil {
		return unexpected(err, "reconcile")
	}
	s.writeJSON(w, r, http.StatusOK, rep)
	return nil
}
