package budget

import (
	"fmt"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Thresholds are the shares of a limit, in percent, whose crossing is
// announced once per period.
var Thresholds = []int{50, 80, 100}

// PeriodOf returns the budget period of t: its calendar month in UTC,
// "2026-11".
func PeriodOf(t time.Time) string { return t.UTC().Format("2006-01") }

// PeriodBounds returns the first instant of period and the first instant
// of the next one, in UTC. It fails with errclass.Permanent for a malformed
// period.
func PeriodBounds(period string) (from, to time.Time, err error) {
	if !store.ValidPeriodID(period) {
		return time.Time{}, time.Time{}, errclass.New(errclass.Permanent, "period %q: want yyyy-mm", period)
	}
	from, err = time.Parse("2006-01", period)
	if err != nil {
		return time.Time{}, time.Time{}, errclass.New(errclass.Permanent, "period %q: want yyyy-mm", period)
	}
	return from, from.AddDate(0, 1, 0), nil
}

// ExceededError is the refusal of a reservation. It is classified
// errclass.Budget; its message gives the limit, the spent and reserved
// amounts, and the estimate that did not fit.
type ExceededError struct {
	ProjectID string
	UserID    string // set when the user's own limit refused
	Period    string
	Limit     money.Micros
	Spent     money.Micros
	Reserved  money.Micros // reserved by others (what the job itself held is not counted)
	Estimate  money.Micros
	// DefaultLimit says that Limit is the default of projects without a
	// budget of their own (Defaults.MonthlyLimit).
	DefaultLimit bool
}

func (e *ExceededError) Error() string {
	who := "project " + e.ProjectID
	if e.UserID != "" {
		who = fmt.Sprintf("user %q of project %s", e.UserID, e.ProjectID)
	}
	limit := "$" + e.Limit.USD()
	if e.DefaultLimit {
		limit += " (the default for projects without a budget)"
	}
	return fmt.Sprintf("monthly budget of %s exceeded in %s: limit %s, spent $%s, reserved $%s, estimate $%s",
		who, e.Period, limit, e.Spent.USD(), e.Reserved.USD(), e.Estimate.USD())
}

// Unwrap makes errors.Is(err, errclass.Budget) hold.
func (e *ExceededError) Unwrap() error { return errclass.Budget }

// Reserve adds estimate to p's reservations if spent + reserved + estimate
// stays within limit (nil: no limit, always fits); otherwise it returns p
// unchanged and an *ExceededError. A negative estimate is
// errclass.Permanent.
func Reserve(p store.Period, limit *money.Micros, estimate money.Micros) (store.Period, error) {
	return Move(p, limit, 0, estimate)
}

// Move replaces a reservation of old held on p by one of new (failover to a
// backend with another estimate). Growing must fit the limit as Reserve
// does, counting the old reservation as given back; shrinking always
// succeeds, even over a limit lowered meanwhile.
func Move(p store.Period, limit *money.Micros, old, new money.Micros) (store.Period, error) {
	if old < 0 || new < 0 {
		return p, errclass.New(errclass.Permanent, "budget: negative reservation (old %s, new %s)", old, new)
	}
	others := max(p.Reserved-old, 0)
	if new > old && limit != nil && p.Spent+others+new > *limit {
		return p, &ExceededError{
			ProjectID: p.ProjectID, UserID: p.UserID, Period: p.ID,
			Limit: *limit, Spent: p.Spent, Reserved: others, Estimate: new,
		}
	}
	p.Reserved = others + new
	return p, nil
}

// Settle ends a reservation with the actual cost: reserved is released and
// actual added to spent. Spent may then pass the limit when the actual
// cost is above the estimate: money already spent is recorded as it is.
// Reserved never goes below zero.
func Settle(p store.Period, reserved, actual money.Micros) store.Period {
	p.Reserved = max(p.Reserved-max(reserved, 0), 0)
	p.Spent += actual
	return p
}

// Release ends a reservation of a job that failed or was canceled: reserved
// is released and billed (what the provider charges for the failed or
// canceled work, often zero) added to spent.
func Release(p store.Period, reserved, billed money.Micros) store.Period {
	return Settle(p, reserved, billed)
}

// Crossed returns p with the thresholds that spent + reserved has newly
// reached added to Notified, and those thresholds in ascending order. A
// threshold in Notified is never returned again, so each is announced once
// per period. Without a limit, or with a zero limit, nothing is crossed.
func Crossed(p store.Period, limit *money.Micros) (store.Period, []int) {
	if limit == nil || *limit <= 0 {
		return p, nil
	}
	committed := int64(p.Spent + p.Reserved)
	var crossed []int
	for _, t := range Thresholds {
		if committed*100 >= int64(*limit)*int64(t) && !slices.Contains(p.Notified, t) {
			crossed = append(crossed, t)
		}
	}
	if len(crossed) > 0 {
		p.Notified = append(slices.Clone(p.Notified), crossed...)
		slices.Sort(p.Notified)
	}
	return p, crossed
}

// UserLimit returns the limit of user within b: their own (UserLimits),
// else the project's default per-user limit; nil when neither is set (or
// user is "").
func UserLimit(b store.Budget, user string) *money.Micros {
	if user == "" {
		return nil
	}
	if v, ok := b.UserLimits[user]; ok {
		return &v
	}
	return b.DefaultUserLimit
}
