package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// usageData is the usage part of the store: the ledger's daily roll-ups
// and their watermark. Its map is made on first write.
type usageData struct {
	days      map[dayKey]store.DayUsage
	watermark time.Time
}

// dayKey names a roll-up.
type dayKey struct{ project, day string }

// checkDayKey validates the ids of a roll-up.
func checkDayKey(k dayKey) error {
	if err := checkID("project", k.project); err != nil {
		return err
	}
	if !store.ValidDay(k.day) {
		return errclass.New(errclass.Permanent, "memstore: invalid day %q: want yyyy-mm-dd", k.day)
	}
	return nil
}

func (s *Store) getDayUsage(k dayKey) store.DayUsage {
	if d, ok := s.usage.days[k]; ok {
		return store.CloneDayUsage(d)
	}
	return store.DayUsage{ProjectID: k.project, Day: k.day}
}

// ListDayUsage returns a project's roll-ups of the days in [fromDay, toDay).
func (s *Store) ListDayUsage(ctx context.Context, projectID, fromDay, toDay string) ([]store.DayUsage, error) {
	for _, day := range []string{fromDay, toDay} {
		if err := checkDayKey(dayKey{projectID, day}); err != nil {
			return nil, err
		}
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.DayUsage{}
	for k, d := range s.usage.days {
		if k.project == projectID && k.day >= fromDay && k.day < toDay {
			out = append(out, store.CloneDayUsage(d))
		}
	}
	slices.SortFunc(out, func(a, b store.DayUsage) int { return strings.Compare(a.Day, b.Day) })
	return out, nil
}

// GetUsageWatermark reads the roll-up watermark.
func (s *Store) GetUsageWatermark(ctx context.Context) (time.Time, error) {
	if err := s.lock(ctx); err != nil {
		return time.Time{}, err
	}
	defer s.mu.Unlock()
	return s.usage.watermark, nil
}

// ListSettled returns every project's ledger entries settled in [from, to),
// by At then ID, at most limit.
func (s *Store) ListSettled(ctx context.Context, from, to time.Time, limit int) ([]store.LedgerEntry, error) {
	if limit < 1 {
		return nil, errclass.New(errclass.Permanent, "memstore: list settled: limit must be positive, got %d", limit)
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.LedgerEntry{}
	for _, e := range s.budget.ledger {
		if !e.At.Before(store.NormalizeTime(from)) && e.At.Before(store.NormalizeTime(to)) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b store.LedgerEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(len(out), limit)], nil
}

func (t *tx) GetDayUsage(projectID, day string) (store.DayUsage, error) {
	if err := t.checkRead(); err != nil {
		return store.DayUsage{}, err
	}
	k := dayKey{projectID, day}
	if err := checkDayKey(k); err != nil {
		return store.DayUsage{}, err
	}
	return t.s.getDayUsage(k), nil
}

func (t *tx) PutDayUsage(d store.DayUsage) error {
	if t.done {
		return errTxDone
	}
	k := dayKey{d.ProjectID, d.Day}
	if err := checkDayKey(k); err != nil {
		return err
	}
	c := store.CloneDayUsage(d)
	t.addWrite(write{apply: func(s *Store) {
		if s.usage.days == nil {
			s.usage.days = map[dayKey]store.DayUsage{}
		}
		s.usage.days[k] = c
	}})
	return nil
}

func (t *tx) GetUsageWatermark() (time.Time, error) {
	if err := t.checkRead(); err != nil {
		return time.Time{}, err
	}
	return t.s.usage.watermark, nil
}

func (t *tx) PutUsageWatermark(w time.Time) error {
	if t.done {
		return errTxDone
	}
	w = store.NormalizeTime(w)
	t.addWrite(write{apply: func(s *Store) { s.usage.watermark = w }})
	return nil
}
