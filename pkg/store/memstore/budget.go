package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// budgetData is the budget part of the store: project budgets, periods and
// the ledger. Its maps are made on first write.
type budgetData struct {
	budgets map[string]store.Budget
	periods map[periodKey]store.Period
	ledger  map[string]store.LedgerEntry
}

// periodKey names a period document; user is "" for the project's own
// period, shard 0 for the head.
type periodKey struct {
	project, period, user string
	shard                 int
}

func (d *budgetData) init() {
	if d.budgets == nil {
		d.budgets = map[string]store.Budget{}
		d.periods = map[periodKey]store.Period{}
		d.ledger = map[string]store.LedgerEntry{}
	}
}

func (s *Store) getBudget(projectID string) store.Budget {
	if b, ok := s.budget.budgets[projectID]; ok {
		return store.CloneBudget(b)
	}
	return store.Budget{ProjectID: projectID}
}

func (s *Store) getPeriod(k periodKey) store.Period {
	if p, ok := s.budget.periods[k]; ok {
		return store.ClonePeriod(p)
	}
	return store.Period{ProjectID: k.project, ID: k.period, UserID: k.user, Shard: k.shard}
}

// GetBudget returns a project's budget configuration (zero when absent).
func (s *Store) GetBudget(ctx context.Context, projectID string) (store.Budget, error) {
	if err := checkID("project", projectID); err != nil {
		return store.Budget{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.Budget{}, err
	}
	defer s.mu.Unlock()
	return s.getBudget(projectID), nil
}

// GetPeriod returns a project's period (zero when absent).
func (s *Store) GetPeriod(ctx context.Context, projectID, period string) (store.Period, error) {
	if err := checkPeriodKey(periodKey{projectID, period, "", 0}); err != nil {
		return store.Period{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.Period{}, err
	}
	defer s.mu.Unlock()
	return s.getPeriod(periodKey{projectID, period, "", 0}), nil
}

// ListUserPeriods returns the user periods of a project's period by user id.
func (s *Store) ListUserPeriods(ctx context.Context, projectID, period string) ([]store.Period, error) {
	if err := checkPeriodKey(periodKey{projectID, period, "", 0}); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.Period{}
	for k, p := range s.budget.periods {
		if k.project == projectID && k.period == period && k.user != "" && k.shard == 0 {
			out = append(out, store.ClonePeriod(p))
		}
	}
	slices.SortFunc(out, func(a, b store.Period) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ListPeriodShards returns every shard of a project's period, by user id
// then shard.
func (s *Store) ListPeriodShards(ctx context.Context, projectID, period string) ([]store.Period, error) {
	if err := checkPeriodKey(periodKey{projectID, period, "", 0}); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.Period{}
	for k, p := range s.budget.periods {
		if k.project == projectID && k.period == period && k.shard > 0 {
			out = append(out, store.ClonePeriod(p))
		}
	}
	slices.SortFunc(out, func(a, b store.Period) int {
		return cmp.Or(strings.Compare(a.UserID, b.UserID), a.Shard-b.Shard)
	})
	return out, nil
}

// ListLedger returns a project's ledger entries matching q, by At then ID.
func (s *Store) ListLedger(ctx context.Context, q store.LedgerQuery) ([]store.LedgerEntry, error) {
	if q.ProjectID == "" {
		return nil, errclass.New(errclass.Permanent, "list ledger: project id is required")
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.LedgerEntry{}
	for _, id := range slices.Sorted(maps.Keys(s.budget.ledger)) {
		e := s.budget.ledger[id]
		switch {
		case e.ProjectID != q.ProjectID,
			q.Period != "" && e.Period != q.Period,
			!q.From.IsZero() && e.At.Before(q.From),
			!q.To.IsZero() && !e.At.Before(q.To):
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b store.LedgerEntry) int { return a.At.Compare(b.At) })
	return out, nil
}

func (t *tx) GetBudget(projectID string) (store.Budget, error) {
	if err := t.checkRead(); err != nil {
		return store.Budget{}, err
	}
	if err := checkID("project", projectID); err != nil {
		return store.Budget{}, err
	}
	return t.s.getBudget(projectID), nil
}

func (t *tx) PutBudget(b store.Budget) error {
	if err := t.checkWrite("project", b.ProjectID); err != nil {
		return err
	}
	for u, v := range b.UserLimits {
		if u == "" || v < 0 {
			return errclass.New(errclass.Permanent, "memstore: budget of project %s: invalid user limit %q: %s", b.ProjectID, u, v)
		}
	}
	if (b.MonthlyLimit != nil && *b.MonthlyLimit < 0) || (b.DefaultUserLimit != nil && *b.DefaultUserLimit < 0) {
		return errclass.New(errclass.Permanent, "memstore: budget of project %s: negative limit", b.ProjectID)
	}
	c := store.CloneBudget(b)
	t.addWrite(write{apply: func(s *Store) { s.budget.init(); s.budget.budgets[c.ProjectID] = c }})
	return nil
}

func (t *tx) getPeriod(k periodKey) (store.Period, error) {
	if err := t.checkRead(); err != nil {
		return store.Period{}, err
	}
	if err := checkPeriodKey(k); err != nil {
		return store.Period{}, err
	}
	return t.s.getPeriod(k), nil
}

func (t *tx) putPeriod(p store.Period) error {
	if t.done {
		return errTxDone
	}
	k := periodKey{p.ProjectID, p.ID, p.UserID, p.Shard}
	if err := checkPeriodKey(k); err != nil {
		return err
	}
	if k.shard < 0 {
		return errclass.New(errclass.Permanent, "memstore: negative period shard %d", k.shard)
	}
	c := store.ClonePeriod(p)
	t.addWrite(write{apply: func(s *Store) { s.budget.init(); s.budget.periods[k] = c }})
	return nil
}

func (t *tx) GetPeriod(projectID, period string) (store.Period, error) {
	return t.getPeriod(periodKey{projectID, period, "", 0})
}

func (t *tx) GetPeriodShard(projectID, period, userID string, n int) (store.Period, error) {
	if n < 1 {
		return store.Period{}, errclass.New(errclass.Permanent, "memstore: period shard %d: shards count from 1", n)
	}
	return t.getPeriod(periodKey{projectID, period, userID, n})
}

func (t *tx) GetPeriods(projectID string, keys []store.PeriodKey, cfg *store.Budget) ([]store.Period, error) {
	if cfg != nil {
		b, err := t.GetBudget(projectID)
		if err != nil {
			return nil, err
		}
		*cfg = b
	}
	out := make([]store.Period, len(keys))
	for i, k := range keys {
		if k.Shard < 0 {
			return nil, errclass.New(errclass.Permanent, "memstore: negative period shard %d", k.Shard)
		}
		p, err := t.getPeriod(periodKey{projectID, k.Period, k.UserID, k.Shard})
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func (t *tx) PutPeriod(p store.Period) error {
	if p.UserID != "" {
		return errclass.New(errclass.Permanent, "memstore: PutPeriod of a user period (user %q); use PutUserPeriod", p.UserID)
	}
	return t.putPeriod(p)
}

func (t *tx) GetUserPeriod(projectID, period, userID string) (store.Period, error) {
	if userID == "" {
		return store.Period{}, errclass.New(errclass.Permanent, "memstore: user period without a user id")
	}
	return t.getPeriod(periodKey{projectID, period, userID, 0})
}

func (t *tx) PutUserPeriod(p store.Period) error {
	if p.UserID == "" {
		return errclass.New(errclass.Permanent, "memstore: PutUserPeriod without a user id")
	}
	return t.putPeriod(p)
}

func (t *tx) GetLedger(id string) (store.LedgerEntry, error) {
	if err := t.checkRead(); err != nil {
		return store.LedgerEntry{}, err
	}
	e, ok := t.s.budget.ledger[id]
	if !ok {
		return store.LedgerEntry{}, errclass.New(errclass.NotFound, "ledger entry %s not found", id)
	}
	return e, nil
}

func (t *tx) CreateLedger(e store.LedgerEntry) error {
	if err := t.checkWrite("ledger entry", e.ID); err != nil {
		return err
	}
	if e.ProjectID == "" {
		return errclass.New(errclass.Permanent, "memstore: ledger entry %s without a project id", e.ID)
	}
	// The store is locked for the whole transaction, so what is committed
	// now is what is committed at the end: check at once.
	if _, ok := t.s.budget.ledger[e.ID]; ok || t.ledgerCreates[e.ID] {
		return errclass.New(errclass.Conflict, "memstore: ledger entry %s already exists", e.ID)
	}
	if t.ledgerCreates == nil {
		t.ledgerCreates = map[string]bool{}
	}
	t.ledgerCreates[e.ID] = true
	e.At = norm(e.At)
	t.addWrite(write{apply: func(s *Store) { s.budget.init(); s.budget.ledger[e.ID] = e }})
	return nil
}

// checkPeriodKey validates the ids of a period.
func checkPeriodKey(k periodKey) error {
	if err := checkID("project", k.project); err != nil {
		return err
	}
	if !store.ValidPeriodID(k.period) {
		return errclass.New(errclass.Permanent, "memstore: invalid period %q: want yyyy-mm", k.period)
	}
	return nil
}
