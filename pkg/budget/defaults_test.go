package budget_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

func TestDefaultsApply(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		own, def   *money.Micros // def nil: the zero Defaults
		want       *money.Micros
		wantSource budget.LimitSource
	}{
		{"no limit, no default", nil, nil, nil, budget.LimitNone},
		{"no limit, a default", nil, lim("100"), lim("100"), budget.LimitFromDefault},
		{"no limit, a zero default is none", nil, lim("0"), nil, budget.LimitNone},
		{"own limit above the default", lim("500"), lim("100"), lim("500"), budget.LimitFromProject},
		{"own limit below the default", lim("5"), lim("100"), lim("5"), budget.LimitFromProject},
		{"own zero limit overrides", lim("0"), lim("100"), lim("0"), budget.LimitFromProject},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d budget.Defaults
			if tt.def != nil {
				d.MonthlyLimit = *tt.def
			}
			in := store.Budget{ProjectID: "p", MonthlyLimit: tt.own, DefaultUserLimit: lim("3")}
			got, source := d.Apply(in)
			require.Equal(t, tt.want, got.MonthlyLimit)
			require.Equal(t, tt.wantSource, source)
			require.Equal(t, lim("3"), got.DefaultUserLimit, "the rest of the budget is kept")
			require.Equal(t, tt.own, in.MonthlyLimit, "the input is not changed")
		})
	}
}

// TestDefaultLimitCapsAProjectWithoutBudget: a project without a budget
// of its own is refused once spent + reserved would pass the default, the
// refusal says the limit is the default, and thresholds are announced
// against it.
func TestDefaultLimitCapsAProjectWithoutBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	b.defaults = budget.Defaults{MonthlyLimit: usd("1")}
	var crossed []int
	for range 2 {
		j := b.newJob("")
		refused, crossings := b.route(j.ID, "0.5", nov)
		require.NoError(t, refused)
		for _, c := range crossings {
			require.Equal(t, usd("1"), c.Limit)
			crossed = append(crossed, c.Threshold)
		}
	}
	require.Equal(t, []int{50, 80, 100}, crossed)
	j := b.newJob("")
	refused, _ := b.route(j.ID, "0.5", nov)
	require.ErrorIs(t, refused, errclass.Budget)
	require.EqualError(t, refused, "monthly budget of project p exceeded in 2026-11: "+
		"limit $1 (the default for projects without a budget), spent $0, reserved $1, estimate $0.5")
	require.Equal(t, usd("1"), b.period("2026-11").Reserved)
	b.reconciles("2026-11")
}

// TestOwnLimitOverridesTheDefault: a project's own limit holds, above or
// below the default.
func TestOwnLimitOverridesTheDefault(t *testing.T) {
	t.Parallel()
	above := setup(t, lim("10"), nil)
	above.defaults = budget.Defaults{MonthlyLimit: usd("1")}
	for range 4 {
		refused, _ := above.route(above.newJob("").ID, "0.5", nov)
		require.NoError(t, refused, "10 USD of its own, not the 1 USD default")
	}
	below := setup(t, lim("0.5"), nil)
	below.defaults = budget.Defaults{MonthlyLimit: usd("100")}
	refused, _ := below.route(below.newJob("").ID, "0.5", nov)
	require.NoError(t, refused)
	refused, _ = below.route(below.newJob("").ID, "0.5", nov)
	require.EqualError(t, refused, "monthly budget of project p exceeded in 2026-11: limit $0.5, spent $0, reserved $0.5, estimate $0.5")
}

// TestUserLimitRefusalIsNotTheDefault: a user's own limit refusing is
// not reported as the project default's.
func TestUserLimitRefusalIsNotTheDefault(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, map[string]money.Micros{"alice": usd("0.5")})
	b.defaults = budget.Defaults{MonthlyLimit: usd("100")}
	refused, _ := b.route(b.newJob("alice").ID, "1", nov)
	require.EqualError(t, refused, `monthly budget of user "alice" of project p exceeded in 2026-11: limit $0.5, spent $0, reserved $0, estimate $1`)
}
