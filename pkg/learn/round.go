package learn

import (
	"fmt"
	"slices"
	"time"

	"github.com/aiprod/aiprod/pkg/store"
)

// FoldRound is the usage roller's fold (budget.RollerConfig.Fold): inside
// the round's transaction it reads the stats of every backend that entries
// teach something about, folds the entries in, and returns the writes to
// make once every read of the transaction is done. A round of a backend
// thus costs one read and one write, whatever its number of entries.
func FoldRound(tx store.Tx, entries []store.LedgerEntry, now time.Time) (func() error, error) {
	byBackend := map[string][]Observation{}
	for _, e := range entries {
		if o := FromEntry(e); o.Outcome != Ignored {
			byBackend[o.Backend] = append(byBackend[o.Backend], o)
		}
	}
	names := make([]string, 0, len(byBackend))
	for n := range byBackend {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]store.BackendStats, 0, len(names))
	for _, n := range names {
		st, err := tx.GetBackendStats(n)
		if err != nil {
			return nil, fmt.Errorf("learn: read the stats of %s: %w", n, err)
		}
		for _, o := range byBackend[n] {
			Fold(&st, o)
		}
		st.UpdatedAt = now
		out = append(out, st)
	}
	return func() error {
		for _, st := range out {
			if err := tx.PutBackendStats(st); err != nil {
				return fmt.Errorf("learn: write the stats of %s: %w", st.Backend, err)
			}
		}
		return nil
	}, nil
}
