package budget_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

func usd(s string) money.Micros { return money.MustParse(s) }

func lim(s string) *money.Micros { v := usd(s); return &v }

func period(spent, reserved string) store.Period {
	return store.Period{ProjectID: "p", ID: "2026-11", Spent: usd(spent), Reserved: usd(reserved)}
}

func TestPeriodOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), "2026-11"},
		{time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC), "2026-11"},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2026-12"},
		// 00:30 on Dec 1 in Paris is still November in UTC.
		{time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-11"},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.FixedZone("X", -2*3600)), "2027-01"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, budget.PeriodOf(tt.at), tt.at)
	}
	from, to, err := budget.PeriodBounds("2026-12")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), from)
	require.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), to)
	for _, bad := range []string{"", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "1999-12"} {
		_, _, err := budget.PeriodBounds(bad)
		require.ErrorIs(t, err, errclass.Permanent, bad)
	}
}

func TestReserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		p            store.Period
		limit        *money.Micros
		estimate     string
		wantReserved string
		refused      bool
	}{
		{"fits", period("10", "2"), lim("50"), "1", "3", false},
		{"fits exactly", period("40", "9.75"), lim("50"), "0.25", "10", false},
		{"one micro over", period("40", "9.75"), lim("50"), "0.250001", "9.75", true},
		{"spent alone over", period("50.01", "0"), lim("50"), "0.01", "0", true},
		{"no limit", period("1000", "1000"), nil, "1000", "2000", false},
		{"zero limit refuses", period("0", "0"), lim("0"), "0.000001", "0", true},
		{"zero estimate fits a full budget", period("50", "0"), lim("50"), "0", "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := budget.Reserve(tt.p, tt.limit, usd(tt.estimate))
			require.Equal(t, usd(tt.wantReserved), got.Reserved)
			require.Equal(t, tt.p.Spent, got.Spent, "reserving never spends")
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errclass.Budget)
			var ee *budget.ExceededError
			require.True(t, errors.As(err, &ee))
			require.Equal(t, *tt.limit, ee.Limit)
			require.Equal(t, tt.p.Spent, ee.Spent)
			require.Equal(t, tt.p.Reserved, ee.Reserved)
			require.Equal(t, usd(tt.estimate), ee.Estimate)
			require.Equal(t, tt.p, got, "a refusal changes nothing")
		})
	}
	_, err := budget.Reserve(period("0", "0"), nil, -1)
	require.ErrorIs(t, err, errclass.Permanent)
}

func TestExceededMessage(t *testing.T) {
	t.Parallel()
	_, err := budget.Reserve(period("49.5", "0.4"), lim("50"), usd("0.25"))
	require.EqualError(t, err, "monthly budget of project p exceeded in 2026-11: limit $50, spent $49.5, reserved $0.4, estimate $0.25")
	p := period("9", "0.9")
	p.UserID = "alice"
	_, err = budget.Reserve(p, lim("10"), usd("0.5"))
	require.EqualError(t, err, `monthly budget of user "alice" of project p exceeded in 2026-11: limit $10, spent $9, reserved $0.9, estimate $0.5`)
}

func TestMove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		p            store.Period
		limit        *money.Micros
		old, new     string
		want         string
		wantReserved string // in the error: the others' reservations
		refused      bool
	}{
		{"same", period("0", "1"), lim("1"), "0.5", "0.5", "1", "", false},
		{"grow within the limit", period("0", "1"), lim("2"), "0.5", "1.5", "2", "", false},
		{"grow past the limit", period("0", "1"), lim("2"), "0.5", "1.6", "1", "0.5", true},
		{"shrink over a lowered limit", period("5", "1"), lim("2"), "1", "0.5", "0.5", "", false},
		{"from nothing is Reserve", period("0", "1"), lim("2"), "0", "1", "2", "", false},
		{"old larger than stored is clamped", period("0", "0.2"), lim("2"), "0.5", "1", "1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := budget.Move(tt.p, tt.limit, usd(tt.old), usd(tt.new))
			require.Equal(t, usd(tt.want), got.Reserved)
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			var ee *budget.ExceededError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, usd(tt.wantReserved), ee.Reserved)
		})
	}
}

func TestSettleAndRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		p                    store.Period
		reserved, cost       string
		wantSpent, wantResvd string
	}{
		{"actual equals estimate", period("10", "1"), "0.25", "0.25", "10.25", "0.75"},
		{"actual below estimate", period("10", "1"), "0.25", "0.2", "10.2", "0.75"},
		{"actual above estimate", period("10", "1"), "0.25", "0.3", "10.3", "0.75"},
		{"release without billing", period("10", "1"), "0.25", "0", "10", "0.75"},
		{"release with billed work", period("10", "1"), "0.25", "0.1", "10.1", "0.75"},
		{"nothing reserved (no budget then)", period("10", "1"), "0", "0.25", "10.25", "1"},
		{"reserved never negative", period("0", "0.1"), "0.25", "0", "0", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := budget.Settle(tt.p, usd(tt.reserved), usd(tt.cost))
			require.Equal(t, usd(tt.wantSpent), got.Spent)
			require.Equal(t, usd(tt.wantResvd), got.Reserved)
			require.Equal(t, got, budget.Release(tt.p, usd(tt.reserved), usd(tt.cost)), "Release is Settle with the billed cost")
		})
	}
}

func TestCrossed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		p        store.Period
		notified []int
		limit    *money.Micros
		want     []int
		wantAll  []int
	}{
		{"below 50", period("20", "4.999999"), nil, lim("50"), nil, nil},
		{"exactly 50", period("20", "5"), nil, lim("50"), []int{50}, []int{50}},
		{"reserved counts", period("0", "40"), nil, lim("50"), []int{50, 80}, []int{50, 80}},
		{"once per period", period("0", "40"), []int{50, 80}, lim("50"), nil, []int{50, 80}},
		{"100 after 50", period("50", "0"), []int{50}, lim("50"), []int{80, 100}, []int{50, 80, 100}},
		{"past the limit", period("60", "0"), nil, lim("50"), []int{50, 80, 100}, []int{50, 80, 100}},
		{"no limit", period("1000", "0"), nil, nil, nil, nil},
		{"zero limit", period("0", "0"), nil, lim("0"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.Notified = tt.notified
			got, crossed := budget.Crossed(tt.p, tt.limit)
			require.Equal(t, tt.want, crossed)
			require.Equal(t, tt.wantAll, got.Notified)
			_, again := budget.Crossed(got, tt.limit)
			require.Empty(t, again, "a threshold is crossed once")
		})
	}
}

func TestUserLimit(t *testing.T) {
	t.Parallel()
	b := store.Budget{ProjectID: "p", MonthlyLimit: lim("50"), UserLimits: map[string]money.Micros{"alice": usd("10")}}
	require.Equal(t, usd("10"), *budget.UserLimit(b, "alice"))
	require.Nil(t, budget.UserLimit(b, "bob"))
	require.Nil(t, budget.UserLimit(b, ""))
}
