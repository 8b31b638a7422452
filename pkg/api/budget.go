package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// BudgetView is the body of GET /v1/budget and of
// PUT /v1/admin/projects/{project}/budget: a project's limit and its money
// in one period. Limit is the project's own monthly limit or, when it has
// none, the default of projects without one (Config.BudgetDefaults);
// LimitSource says which ("project", "default"), or "none" when Limit is
// null (no limit at all). Users lists the users with a limit or with money
// in the period.
type BudgetView struct {
	ProjectID   string             `json:"project_id"`
	Period      string             `json:"period"`
	Limit       *money.Micros      `json:"limit_usd"`
	LimitSource budget.LimitSource `json:"limit_source"`
	Spent       money.Micros       `json:"spent_usd"`
	Reserved    money.Micros       `json:"reserved_usd"`
	// DefaultUserLimit caps every user without a limit of their own
	// (absent: none).
	DefaultUserLimit *money.Micros             `json:"default_user_limit_usd,omitempty"`
	Users            map[string]UserBudgetView `json:"users,omitempty"`
}

// UserBudgetView is one user's part of a BudgetView; Limit is null when the
// user has no limit of their own.
type UserBudgetView struct {
	Limit    *money.Micros `json:"limit_usd"`
	Spent    money.Micros  `json:"spent_usd"`
	Reserved money.Micros  `json:"reserved_usd"`
}

// budgetView reads project's budget and its period.
func (s *Server) budgetView(ctx context.Context, project, period string) (BudgetView, error) {
	b, err := s.cfg.Store.GetBudget(ctx, project)
	if err != nil {
		return BudgetView{}, unexpected(err, "read budget")
	}
	p, users, err := budget.ReadPeriod(ctx, s.cfg.Store, project, period)
	if err != nil {
		return BudgetView{}, unexpected(err, "read budget period")
	}
	eff, source := s.cfg.BudgetDefaults.Apply(b)
	v := BudgetView{ProjectID: project, Period: period, Limit: eff.MonthlyLimit, LimitSource: source,
		Spent: p.Spent, Reserved: p.Reserved, DefaultUserLimit: b.DefaultUserLimit}
	if len(users) > 0 || len(b.UserLimits) > 0 {
		v.Users = map[string]UserBudgetView{}
		for _, u := range users {
			v.Users[u.UserID] = UserBudgetView{Limit: budget.UserLimit(b, u.UserID), Spent: u.Spent, Reserved: u.Reserved}
		}
		for u := range b.UserLimits {
			if _, ok := v.Users[u]; !ok {
				v.Users[u] = UserBudgetView{Limit: budget.UserLimit(b, u)}
			}
		}
	}
	return v, nil
}

// periodParam returns the period query parameter, or the current month.
func (s *Server) periodParam(r *http.Request) (string, error) {
	p := r.URL.Query().Get("period")
	if p == "" {
		return budget.PeriodOf(s.cfg.Now()), nil
	}
	if !store.ValidPeriodID(p) {
		return "", invalid("period", "must be a month as yyyy-mm, got %q", p)
	}
	return p, nil
}

// getBudget is GET /v1/budget[?period=yyyy-mm]: the project's budget in the
// current (or given) month.
func (s *Server) getBudget(w http.ResponseWriter, r *http.Request, project string) error {
	period, err := s.periodParam(r)
	if err != nil {
		return err
	}
	v, err := s.budgetView(r.Context(), project, period)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, v)
	return nil
}

// budgetBody is the body of PUT /v1/admin/projects/{project}/budget:
// {"monthly_limit_usd": 50, "users": {"alice": 10}, "default_user_limit_usd": 5}.
// The fields are raw so that amounts are parsed exactly, and errors name
// their field.
type budgetBody struct {
	MonthlyLimitUSD     json.RawMessage            `json:"monthly_limit_usd"`
	Users               map[string]json.RawMessage `json:"users"`
	DefaultUserLimitUSD json.RawMessage            `json:"default_user_limit_usd"`
}

// putBudget is PUT /v1/admin/projects/{project}/budget. It replaces the
// project's budget: monthly_limit_usd is required (null: no limit of its
// own, so the default of Config.BudgetDefaults applies, if any); users,
// optional, gives per-user limits (a user omitted or null has none);
// default_user_limit_usd, optional, caps every other user, so that an
// unknown or re-spelled user id cannot spend past a per-user cap.
// Spent and reserved money are kept. It answers 200 with the budget view of
// the current month.
func (s *Server) putBudget(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, err := projectParam(r)
	if err != nil {
		return err
	}
	body, err := readJSON[budgetBody](s, w, r)
	if err != nil {
		return err
	}
	if body.MonthlyLimitUSD == nil {
		return invalid("monthly_limit_usd", "is required: a number of USD, or null for no limit")
	}
	b := store.Budget{ProjectID: project, UpdatedAt: store.NormalizeTime(s.cfg.Now())}
	if b.MonthlyLimit, err = parseLimit("monthly_limit_usd", body.MonthlyLimitUSD); err != nil {
		return err
	}
	if body.DefaultUserLimitUSD != nil {
		if b.DefaultUserLimit, err = parseLimit("default_user_limit_usd", body.DefaultUserLimitUSD); err != nil {
			return err
		}
	}
	for _, u := range slices.Sorted(maps.Keys(body.Users)) {
		field := "users." + u
		if u == "" || utf8.RuneCountInString(u) > job.MaxUserIDChars || !utf8.ValidString(u) {
			return invalid(field, "user ids are 1 to %d characters of UTF-8", job.MaxUserIDChars)
		}
		l, err := parseLimit(field, body.Users[u])
		if err != nil {
			return err
		}
		if l != nil {
			if b.UserLimits == nil {
				b.UserLimits = map[string]money.Micros{}
			}
			b.UserLimits[u] = *l
		}
	}
	if err := s.runTx(ctx, func(tx store.Tx) error { return tx.PutBudget(b) }); err != nil {
		return unexpected(err, "store budget")
	}
	infoOf(ctx).project = project
	limit := "none"
	if b.MonthlyLimit != nil {
		limit = b.MonthlyLimit.USD()
	}
	s.log.InfoContext(ctx, "budget set", slog.String("project_id", project), slog.String("monthly_limit_usd", limit),
		slog.Int("user_limits", len(b.UserLimits)))
	v, err := s.budgetView(ctx, project, budget.PeriodOf(s.cfg.Now()))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, v)
	return nil
}

// parseLimit reads a JSON amount of USD: nil for null, an error naming
// field for anything but a non-negative number with at most 6 decimals.
func parseLimit(field string, raw json.RawMessage) (*money.Micros, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] == '"' {
		return nil, invalid(field, "must be a number of USD, or null for no limit")
	}
	v, err := money.Parse(string(raw))
	if err != nil {
		return nil, invalid(field, "must be a number of USD with at most 6 decimals, got %s", raw)
	}
	if v < 0 {
		return nil, invalid(field, "must not be negative, got %s", raw)
	}
	return &v, nil
}
