package budget

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// JobTx is the budget side of one store transaction that changes one job:
// it reserves for a new attempt (router), settles an attempt that ended
// (worker, API cancel) and releases what a job that ends still holds.
//
// Use it in three steps inside store.Store.RunTx, because Firestore
// transactions read everything before they write:
//
//  1. Prepare(tx, j) with the job as read, before changing it and before
//     any write of the transaction. It reads the ledger entry of the job's
//     latest attempt and the budget documents that settling may touch.
//  2. Change the job. The router calls Reserve (which may read too, so also
//     before any write) and records the reservation on the new attempt.
//  3. Apply(tx, j, now) with the job as it will be written: it writes the
//     ledger entry and the periods, and returns the thresholds crossed.
//     Only writes follow.
//
// A transaction that only ends an attempt or the job (the worker's
// outcomes) can use SettleJob instead, which does both steps and reads
// nothing when the change settles nothing.
//
// A JobTx is used by one goroutine, in one run of a transaction function
// (make a new one when the store runs the function again).
type JobTx struct {
	jobID, project, user string
	wasTerminal          bool
	n                    int                // attempts when prepared
	ledger               *store.LedgerEntry // of attempt n, when it exists
	attemptAt            bookKey            // where attempt n reserved

	defaults Defaults
	cfg      *store.Budget // with defaults applied
	source   LimitSource   // of cfg.MonthlyLimit
	docs     map[docKey]*store.Period
	dirty    map[docKey]bool
	// totals are the project's periods as wholes (head and shards summed),
	// known where a reservation gathered its shards; nil until one did.
	totals    map[string]store.Period
	crossings []Crossing

	hold     holding
	pick     shardPick          // this transaction's mark on its shard (pickShard)
	settled  bool               // attempt n settled in this transaction
	entry    *store.LedgerEntry // to create
	reserved bool               // Reserve succeeded
	applied  bool
}

// bookKey is where a reservation is held: a period and a shard of it (0:
// the head document).
type bookKey struct {
	period string
	shard  int
}

// docKey names a budget document: the project's (user "") or a user's,
// head (shard 0) or shard, of a period.
type docKey struct {
	period, user string
	shard        int
}

// holding is what the job holds reserved, and where.
type holding struct {
	at     bookKey
	amount money.Micros
}

// Prepare reads what a transaction changing job j needs of the budget:
// the ledger entry of j's latest attempt and, when that attempt is not
// settled yet or the job still holds a reservation, the period (project
// and user) of that attempt. Settling needs no limit: the project's
// budget configuration is read by Reserve only. j is the job as read in
// this transaction, before any change; call Prepare before any write. d
// applies to the project's budget as read (Defaults.Apply): a project
// without a limit of its own is held to d's.
func Prepare(tx store.Tx, j *job.Job, d Defaults) (*JobTx, error) {
	t := &JobTx{
		jobID: j.ID, project: j.ProjectID, user: j.UserID,
		wasTerminal: j.Status.Terminal(), n: len(j.Attempts),
		defaults: d, docs: map[docKey]*store.Period{}, dirty: map[docKey]bool{},
	}
	if t.n == 0 {
		return t, nil
	}
	a := j.Attempt(t.n)
	t.attemptAt = bookKey{PeriodOf(a.StartedAt), a.BudgetShard}
	e, err := tx.GetLedger(store.LedgerID(j.ID, t.n))
	switch {
	case err == nil:
		t.ledger = &e
		if !t.wasTerminal {
			t.hold = holding{t.attemptAt, e.Carried}
		}
	case errors.Is(err, errclass.NotFound):
		t.hold = holding{t.attemptAt, a.Reserved}
	default:
		return nil, fmt.Errorf("budget: read ledger of job %s attempt %d: %w", j.ID, t.n, err)
	}
	if t.ledger == nil || t.hold.amount > 0 {
		if err := t.loadBook(tx, t.attemptAt, false); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// load reads, once each and in one round trip, the budget documents keys
// name and, with config, the project's budget configuration.
func (t *JobTx) load(tx store.Tx, config bool, keys ...docKey) error {
	var want []docKey
	for _, k := range keys {
		if _, ok := t.docs[k]; !ok && !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	config = config && t.cfg == nil
	if len(want) == 0 && !config {
		return nil
	}
	if t.applied {
		return errclass.New(errclass.Permanent, "budget: read after Apply")
	}
	pks := make([]store.PeriodKey, len(want))
	for i, k := range want {
		pks[i] = store.PeriodKey{Period: k.period, UserID: k.user, Shard: k.shard}
	}
	var cfg *store.Budget
	if config {
		cfg = &store.Budget{}
	}
	ps, err := tx.GetPeriods(t.project, pks, cfg)
	if err != nil {
		return fmt.Errorf("budget: read the budget of project %s: %w", t.project, err)
	}
	if config {
		c, source := t.defaults.Apply(*cfg)
		t.cfg, t.source = &c, source
	}
	for i, k := range want {
		t.docs[k] = &ps[i]
	}
	return nil
}

// loadBook reads the documents of a book, the project's and, when the job
// has a user, the user's; with config, the budget configuration too (a
// reservation checks limits; settling and releasing do not).
func (t *JobTx) loadBook(tx store.Tx, b bookKey, config bool) error {
	keys := []docKey{keyOf(b, "")}
	if t.user != "" {
		keys = append(keys, keyOf(b, t.user))
	}
	return t.load(tx, config, keys...)
}

// settleBook releases reserved and charges cost on a loaded book.
func (t *JobTx) settleBook(b bookKey, reserved, cost money.Micros) {
	keys := []docKey{keyOf(b, "")}
	if t.user != "" {
		keys = append(keys, keyOf(b, t.user))
	}
	for _, k := range keys {
		*t.docs[k] = Settle(*t.docs[k], reserved, cost)
		t.dirty[k] = true
	}
}

// Settled returns the ledger entry that Apply wrote (an attempt's cost
// charged, exactly once), if it wrote one.
func (t *JobTx) Settled() (store.LedgerEntry, bool) {
	if !t.applied || t.entry == nil {
		return store.LedgerEntry{}, false
	}
	return *t.entry, true
}

// Books returns the project's periods as wholes (head and shards summed)
// where this transaction read them all (a reservation that gathered its
// shards), by period, and the project's monthly limit (nil: none). A
// transaction that stayed within one shard knows no totals.
func (t *JobTx) Books() (map[string]store.Period, *money.Micros) {
	out := map[string]store.Period{}
	if !t.applied || t.cfg == nil {
		return out, nil
	}
	maps.Copy(out, t.totals)
	return out, t.cfg.MonthlyLimit
}

// Held returns what the job holds reserved now (as changed in memory).
func (t *JobTx) Held() money.Micros { return t.hold.amount }

// Reserve reserves estimate for the job's next attempt, to be dispatched at
// now, on the period of now: for the project and, when the job has a user,
// for the user; both limits must allow it. A reservation the job still
// holds from its previous attempt (failover) is moved, not added: only the
// difference must fit. The previous attempt is settled first if it was not
// (its cost charged, the rest carried over). The reservation goes to a
// shard of the period that no reservation of this process is using
// (pickShard; see "Shards" in the package doc).
//
// When the budget refuses, Reserve returns an *ExceededError (errclass.
// Budget) and reserves nothing; the caller fails the job and still calls
// Apply, which releases what the job held. On success the caller must set
// the new attempt's Reserved to estimate and its StartedAt to now (Apply
// records the shard on it). Reserve may read, so call it before any write
// of the transaction.
func (t *JobTx) Reserve(tx store.Tx, j *job.Job, estimate money.Micros, now time.Time) error {
	if t.applied || t.reserved {
		return errclass.New(errclass.Permanent, "budget: Reserve after Apply or a successful Reserve")
	}
	if estimate < 0 {
		return errclass.New(errclass.Permanent, "budget: negative estimate %s", estimate)
	}
	if err := t.settlePending(j, true, now); err != nil {
		return err
	}
	old := t.hold
	at := bookKey{PeriodOf(now), 0}
	if old.amount > 0 && old.at.period == at.period && old.at.shard > 0 {
		at.shard = old.at.shard // failover: move the held reservation where it is
	} else {
		t.pick.release() // a Reserve refused before may have picked
		at.shard, t.pick = pickShard(t.project, ShardOf(j.ID))
	}
	if err := t.loadBook(tx, at, true); err != nil {
		return err
	}
	held := money.Micros(0)
	if old.at == at {
		held = old.amount
	}
	restore := t.checkpoint()
	if err := t.reserveOn(tx, at, "", t.cfg.MonthlyLimit, held, estimate); err != nil {
		restore()
		return t.refusal(err)
	}
	if t.user != "" {
		if err := t.reserveOn(tx, at, t.user, UserLimit(*t.cfg, t.user), held, estimate); err != nil {
			restore()
			return err
		}
	}
	if old.amount > 0 && old.at != at {
		// The held reservation is elsewhere (an earlier month, or the head
		// of one): give it back there.
		t.settleBook(old.at, old.amount, 0)
	}
	t.hold = holding{at, estimate}
	t.reserved = true
	return nil
}

// Done says that the transaction this JobTx was used in has ended
// (committed, aborted or given up): the shard its reservation picked is
// free for this process's next one. Call it once the store's RunTx
// returns, or before a retry makes a new JobTx; it may be called more than
// once, and on a nil JobTx. Not calling it only costs contention: a pick
// lapses on its own after a while.
func (t *JobTx) Done() {
	if t != nil {
		t.pick.release()
		t.pick = shardPick{}
	}
}

// checkpoint returns a function that puts the documents read so far, and
// what is known of totals and crossings, back as they are now.
func (t *JobTx) checkpoint() func() {
	docs := make(map[docKey]store.Period, len(t.docs))
	for k, p := range t.docs {
		docs[k] = store.ClonePeriod(*p)
	}
	dirty, totals, crossings := maps.Clone(t.dirty), maps.Clone(t.totals), slices.Clone(t.crossings)
	return func() {
		for k, p := range docs {
			*t.docs[k] = p
		}
		t.dirty, t.totals, t.crossings = dirty, totals, crossings
	}
}

// refusal marks a refusal of the project's limit as one of the default
// limit when the project has no limit of its own.
func (t *JobTx) refusal(err error) error {
	var ee *ExceededError
	if errors.As(err, &ee) && ee.UserID == "" && t.source == LimitFromDefault {
		ee.DefaultLimit = true
	}
	return err
}

// settlePending settles attempt n when it has no ledger entry yet: its cost
// is charged and its reservation released, entirely when the job ends
// (carry false), or up to its cost when the job goes on to another attempt
// (carry true: the rest stays held for that attempt).
func (t *JobTx) settlePending(j *job.Job, carry bool, now time.Time) error {
	if t.n == 0 || t.ledger != nil || t.settled {
		return nil
	}
	if j.ID != t.jobID || len(j.Attempts) < t.n {
		return errclass.New(errclass.Permanent, "budget: job %s is not the prepared job %s", j.ID, t.jobID)
	}
	a := j.Attempt(t.n)
	held := t.hold.amount
	release := held
	if carry {
		release = min(max(a.Cost, 0), held)
	}
	t.settleBook(t.attemptAt, release, a.Cost)
	t.entry = &store.LedgerEntry{
		ID: store.LedgerID(j.ID, a.Number), JobID: j.ID, Attempt: a.Number,
		ProjectID: j.ProjectID, UserID: j.UserID, Backend: a.Backend, Model: a.Model, Shape: store.ShapeOf(&j.Request),
		Period: t.attemptAt.period, Seconds: a.DurationSeconds, Status: a.Status,
		Estimate: a.EstimatedCost, Reserved: held, Cost: a.Cost,
		Released: release, Carried: held - release, Final: !carry,
		At: store.NormalizeTime(now), Generation: generation(a, now),
	}
	if a.Error != nil {
		t.entry.ErrorCode = a.Error.Code
	}
	t.hold.amount = held - release
	t.settled = true
	return nil
}

// generation is attempt a's time at its provider, submit to end (to now
// when it has not ended); 0 when it was never submitted.
func generation(a *job.Attempt, now time.Time) time.Duration {
	if a.SubmittedAt == nil {
		return 0
	}
	end := now
	if a.EndedAt != nil {
		end = *a.EndedAt
	}
	return max(end.Sub(*a.SubmittedAt), 0)
}

// Crossing is a threshold of a project's monthly limit that its spent +
// reserved reached for the first time in the period.
type Crossing struct {
	ProjectID string
	Period    string
	Threshold int // percent: one of Thresholds
	Limit     money.Micros
	Spent     money.Micros
	Reserved  money.Micros
}

// Apply writes the budget side of the transaction, given j as it will be
// written (the job passed to Prepare, changed):
//
//   - the latest attempt as prepared, when it has no ledger entry yet and
//     it finished (succeeded, failed, canceled), or the job ended, or the
//     job moved on to a new attempt, is settled: its ledger entry is
//     created, its cost added to spent, and its reservation released
//     (entirely when the job ends; up to its cost, carrying the rest to the
//     next attempt, when the job goes on);
//   - a job that ends in this transaction releases what it still holds;
//   - a new attempt must carry the reservation that Reserve made.
//
// Apply is idempotent across transactions: an attempt with a ledger entry
// is never settled again, and a job that was already terminal when
// prepared releases nothing more. It returns the thresholds crossed, to be
// published after the transaction commits (PublishThresholds). It only
// writes.
func (t *JobTx) Apply(tx store.Tx, j *job.Job, now time.Time) ([]Crossing, error) {
	if t.applied {
		return nil, errclass.New(errclass.Permanent, "budget: Apply called twice")
	}
	if j.ID != t.jobID {
		return nil, errclass.New(errclass.Permanent, "budget: job %s is not the prepared job %s", j.ID, t.jobID)
	}
	ends := j.Status.Terminal()
	if t.n > 0 && t.ledger == nil && !t.settled && len(j.Attempts) >= t.n {
		a := j.Attempt(t.n)
		if a.Status.Finished() || ends || len(j.Attempts) > t.n {
			if err := t.settlePending(j, !ends, now); err != nil {
				return nil, err
			}
		}
	}
	if ends && !t.wasTerminal && t.hold.amount > 0 {
		t.settleBook(t.hold.at, t.hold.amount, 0)
		if e := t.entry; e != nil && t.hold.at == t.attemptAt {
			// Settled in this transaction as if the job went on (Reserve,
			// then refused): record that it ended after all.
			e.Released, e.Carried, e.Final = e.Released+t.hold.amount, e.Carried-t.hold.amount, true
		}
		t.hold.amount = 0
	}
	if err := t.checkNewAttempt(j); err != nil {
		return nil, err
	}
	t.applied = true
	if err := t.writeDocs(tx, now); err != nil {
		return nil, err
	}
	if t.entry != nil {
		if err := tx.CreateLedger(*t.entry); err != nil {
			return nil, fmt.Errorf("budget: write ledger entry %s: %w", t.entry.ID, err)
		}
	}
	return t.crossings, nil
}

// writeDocs writes the budget documents changed in memory, in a fixed
// order.
func (t *JobTx) writeDocs(tx store.Tx, now time.Time) error {
	keys := slices.Collect(maps.Keys(t.dirty))
	slices.SortFunc(keys, func(a, b docKey) int {
		return cmp.Or(strings.Compare(a.period, b.period), strings.Compare(a.user, b.user), a.shard-b.shard)
	})
	for _, k := range keys {
		p := t.docs[k]
		p.UpdatedAt = store.NormalizeTime(now)
		var err error
		if k.user == "" {
			err = tx.PutPeriod(*p)
		} else {
			err = tx.PutUserPeriod(*p)
		}
		if err != nil {
			return fmt.Errorf("budget: write period %s (shard %d, user %q) of project %s: %w", k.period, k.shard, k.user, t.project, err)
		}
	}
	return nil
}

// checkNewAttempt checks that an attempt added since Prepare carries what
// Reserve reserved, on the period of its start.
func (t *JobTx) checkNewAttempt(j *job.Job) error {
	if len(j.Attempts) <= t.n {
		if t.reserved {
			return errclass.New(errclass.Permanent, "budget: job %s: Reserve succeeded but no attempt was added", j.ID)
		}
		return nil
	}
	a := j.CurrentAttempt()
	switch {
	case !t.reserved && a.Reserved != 0:
		return errclass.New(errclass.Permanent, "budget: job %s attempt %d: Reserved set without Reserve", j.ID, a.Number)
	case t.reserved && (a.Reserved != t.hold.amount || PeriodOf(a.StartedAt) != t.hold.at.period):
		return errclass.New(errclass.Permanent, "budget: job %s attempt %d: Reserved %s in %s, but %s was reserved in %s",
			j.ID, a.Number, a.Reserved, PeriodOf(a.StartedAt), t.hold.amount, t.hold.at.period)
	}
	if t.reserved {
		a.BudgetShard = t.hold.at.shard
	}
	return nil
}

// NeedsSettlement reports whether changing a job from before to after ends
// its latest attempt (as of before) or the job itself: then the change must
// settle the budget in the same transaction (SettleJob).
//
// A job that ends while its latest attempt is still unfinished (a running
// generation canceled through the API) is not settled yet: the generation
// may still be billed, and the worker that ends the attempt settles it.
func NeedsSettlement(before, after *job.Job) bool {
	n := len(before.Attempts)
	attemptEnds := n > 0 && len(after.Attempts) >= n &&
		after.Attempt(n).Status.Finished() && !before.Attempt(n).Status.Finished()
	if attemptEnds {
		return true
	}
	jobEnds := after.Status.Terminal() && !before.Status.Terminal()
	unfinished := n > 0 && len(after.Attempts) >= n && !after.Attempt(n).Status.Finished()
	return jobEnds && !unfinished
}

// SettleJob is Prepare and Apply in one call, for a transaction that has
// read the job (before), changed a copy of it (after) without reading
// anything else since, and not written yet: when NeedsSettlement, it reads
// what settling needs and writes the ledger entry and the periods;
// otherwise it does nothing at all (no reads, so transactions that only
// record progress do not touch the budget documents). Only writes may follow
// it in the transaction. It returns the thresholds crossed, to publish after
// the commit (PublishThresholds).
//
// It is the worker's entry point: call it in every outcome transaction
// (success, failure with or without failover, cancel), with before a clone
// of the job as read; d as in Prepare.
func SettleJob(tx store.Tx, before, after *job.Job, d Defaults, now time.Time) ([]Crossing, error) {
	if !NeedsSettlement(before, after) {
		return nil, nil
	}
	t, err := Prepare(tx, before, d)
	if err != nil {
		return nil, err
	}
	return t.Apply(tx, after, now)
}
