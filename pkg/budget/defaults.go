package budget

import (
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Defaults are the budget settings of every project whose own budget
// (store.Budget) leaves them unset. Services read them from the
// environment (AIPROD_DEFAULT_MONTHLY_LIMIT_USD, package platform), so
// that a new project is capped before anyone sets its budget. The zero
// value applies nothing: such projects are unlimited.
type Defaults struct {
	// MonthlyLimit caps spent + reserved per month of every project
	// without a monthly limit of its own; 0 (or less): none.
	MonthlyLimit money.Micros
}

// LimitSource says where a project's monthly limit comes from: its own
// budget, Defaults, or nowhere (no limit).
type LimitSource string

// The sources of a monthly limit.
const (
	LimitFromProject LimitSource = "project"
	LimitFromDefault LimitSource = "default"
	LimitNone        LimitSource = "none"
)

// Apply returns b with d applied, and where its monthly limit comes from:
// b's own limit when it has one, else d.MonthlyLimit when positive. A
// project limit always overrides the default, even a lower or zero one.
// b is not changed (the limit is a new pointer).
func (d Defaults) Apply(b store.Budget) (store.Budget, LimitSource) {
	switch {
	case b.MonthlyLimit != nil:
		return b, LimitFromProject
	case d.MonthlyLimit > 0:
		l := d.MonthlyLimit
		b.MonthlyLimit = &l
		return b, LimitFromDefault
	default:
		return b, LimitNone
	}
}
