package budget

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Shards is how many shard documents a project's period has, UserShards
// how many each user's has (see "Shards" in the package doc). Users have
// fewer: one user's jobs are a part of the project's, and a project may
// have many users.
const (
	Shards     = 32
	UserShards = 4
)

// shardsOf returns how many shards the account of user has.
func shardsOf(user string) int {
	if user == "" {
		return Shards
	}
	return UserShards
}

// keyOf returns the document of the account of user ("" for the project)
// where book b's reservation is held: the book's shard for the project, the
// shard it maps to among a user's (the head stays the head).
func keyOf(b bookKey, user string) docKey {
	if user == "" || b.shard == 0 {
		return docKey{b.period, user, b.shard}
	}
	return docKey{b.period, user, 1 + (b.shard-1)%UserShards}
}

// ShardOf returns the shard (1..Shards) where a job's reservation starts
// looking (pickShard): a hash of its id.
func ShardOf(jobID string) int {
	return 1 + int(hash32(jobID)%Shards)
}

// hash32 is the 32-bit FNV-1a hash of s (hash/fnv's New32a, without its
// allocations: it runs on every reservation).
func hash32(s string) uint32 {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := range len(s) {
		h ^= uint32(s[i])
		h *= prime32
	}
	return h
}

// inFlight marks, per project and shard (hashed into a fixed table), until
// when (Unix nanoseconds) a reservation of this process may still be
// committing there: the pick's transaction clears its mark when it ends
// (JobTx.Done); busyFor bounds a mark nobody clears.
var inFlight [1 << 12]atomic.Int64

// busyFor is how long a shard stays marked when its reservation's
// transaction does not say it ended: longer than a transaction takes.
const busyFor = 2 * time.Second

// shardPick is a reservation's mark on its shard (pickShard), cleared by
// release unless another reservation has marked the shard since.
type shardPick struct {
	slot *atomic.Int64
	mark int64
}

func (p shardPick) release() {
	if p.slot != nil {
		p.slot.CompareAndSwap(p.mark, 0)
	}
}

// pickShard returns the shard a reservation of the project goes to: the
// first from start on that no reservation of this process is using (its
// transaction has not ended, see JobTx.Done), else start. One router's
// concurrent transactions then meet on a shard only when it has more in
// flight for the project than there are shards (a meeting costs one of
// them an abort and the client's backoff); routers of other processes
// still may.
func pickShard(project string, start int) (int, shardPick) {
	now := time.Now().UnixNano()
	h := hash32(project)
	for i := range Shards {
		s := 1 + (start-1+i)%Shards
		slot := &inFlight[(h+uint32(s)*2654435761)%uint32(len(inFlight))]
		mark := now + int64(busyFor)
		if u := slot.Load(); u <= now && slot.CompareAndSwap(u, mark) {
			return s, shardPick{slot, mark}
		}
	}
	return start, shardPick{}
}

// used is what a budget document holds: spent + reserved.
func used(p store.Period) money.Micros { return p.Spent + p.Reserved }

// allotmentOf returns what shard p may hold under limit: nil without a
// limit; its allotment when granted under this very limit; what it holds
// already otherwise (a shard never granted, or granted under a limit since
// changed, has nothing to spare until a reservation gathers the shards).
func allotmentOf(p store.Period, limit *money.Micros) *money.Micros {
	switch {
	case limit == nil:
		return nil
	case p.GrantedUnder != nil && *p.GrantedUnder == *limit:
		a := p.Allotment
		return &a
	default:
		u := used(p)
		return &u
	}
}

// reserveOn moves the job's reservation on one account (the project's,
// user "", or a user's) of book at from held to estimate: within the
// shard's allotment when it fits (one document), else by gathering the
// account's shards.
func (t *JobTx) reserveOn(tx store.Tx, at bookKey, user string, limit *money.Micros, held, estimate money.Micros) error {
	k := keyOf(at, user)
	d := t.docs[k]
	if p, err := Move(*d, allotmentOf(*d, limit), held, estimate); err == nil {
		*d, t.dirty[k] = p, true
		return nil
	}
	return t.gather(tx, at, user, limit, held, estimate)
}

// gather reserves on shard at.shard of an account with every document of
// the account's period in hand (its head and Shards shards): the limit is
// checked against their sum, exactly; the project's thresholds crossed are
// recorded; and the allotments are set again (allot).
func (t *JobTx) gather(tx store.Tx, at bookKey, user string, limit *money.Micros, held, estimate money.Micros) error {
	keys := make([]docKey, shardsOf(user)+1)
	for i := range keys {
		keys[i] = docKey{at.period, user, i}
	}
	if err := t.load(tx, false, keys...); err != nil {
		return err
	}
	head := t.docs[keys[0]]
	shards := make([]*store.Period, len(keys))
	total := store.Period{ProjectID: t.project, ID: at.period, UserID: user, Spent: head.Spent, Reserved: head.Reserved,
		Notified: head.Notified}
	for i := 1; i < len(shards); i++ {
		shards[i] = t.docs[keys[i]]
		total.Spent += shards[i].Spent
		total.Reserved += shards[i].Reserved
	}
	var err error
	total, err = Move(total, limit, held, estimate)
	if err != nil {
		return err
	}
	k := keyOf(at, user)
	sk := shards[k.shard]
	sk.Reserved = max(sk.Reserved-held, 0) + estimate
	t.dirty[k] = true
	if user == "" {
		var crossed []int
		if total, crossed = Crossed(total, limit); len(crossed) > 0 {
			head.Notified = total.Notified
			t.dirty[docKey{at.period, "", 0}] = true
		}
		for _, th := range crossed {
			t.crossings = append(t.crossings, Crossing{ProjectID: t.project, Period: at.period, Threshold: th,
				Limit: *limit, Spent: total.Spent, Reserved: total.Reserved})
		}
		if t.totals == nil {
			t.totals = map[string]store.Period{}
		}
		t.totals[at.period] = total
	}
	notified := head.Notified
	if user != "" {
		notified = Thresholds // users have no thresholds: their shards may hold up to the limit
	}
	for i, changed := range allot(used(*head), notified, shards, k.shard, *limit, estimate) {
		if changed {
			t.dirty[docKey{at.period, user, i}] = true
		}
	}
	return nil
}

// allot sets the allotments of an account's shards under limit, after a
// reservation on shard k, and reports which shards it changed. A shard
// granted under another limit (or never) may hold only what it holds.
// Allotments plus what the head holds stay within allotCap: when they would
// not, the other shards give back what they do not use. Shard k, and every
// other shard with less than half a grant to spare, then get a grant from
// the room left: 1/(2·Shards) of it, or two estimates when that is more.
// Granting the others too means one gather readies every shard, instead
// of each shard gathering in turn.
func allot(headUsed money.Micros, notified []int, shards []*store.Period, k int, limit, estimate money.Micros) []bool {
	changed := make([]bool, len(shards))
	eff := func(i int) money.Micros {
		if g := shards[i].GrantedUnder; g != nil && *g == limit {
			return max(shards[i].Allotment, used(*shards[i]))
		}
		return used(*shards[i])
	}
	set := func(i int, a money.Micros) {
		s := shards[i]
		if s.Allotment != a || s.GrantedUnder == nil || *s.GrantedUnder != limit {
			s.Allotment, s.GrantedUnder, changed[i] = a, &limit, true
		}
	}
	capped := allotCap(limit, notified)
	sum := headUsed
	for i := 1; i < len(shards); i++ {
		sum += eff(i)
	}
	if sum > capped {
		for i := 1; i < len(shards); i++ {
			if i != k && eff(i) > used(*shards[i]) {
				sum -= eff(i) - used(*shards[i])
				set(i, used(*shards[i]))
			}
		}
	}
	room := max(capped-sum, 0)
	grant := max(room/money.Micros(2*(len(shards)-1)), min(room, 2*estimate))
	set(k, eff(k)+grant)
	room -= grant
	for i := 1; i < len(shards) && room >= grant && grant > 0; i++ {
		if i != k && eff(i)-used(*shards[i]) < grant/2 {
			set(i, eff(i)+grant)
			room -= grant
		}
	}
	return changed
}

// allotCap is what a project's shards may hold in all under limit: just
// below the next threshold not yet announced (so that reaching it takes a
// reservation that gathers the shards, and announces it), else the limit.
func allotCap(limit money.Micros, notified []int) money.Micros {
	if limit <= 0 {
		return limit
	}
	for _, th := range Thresholds {
		if !slices.Contains(notified, th) {
			crossing := (int64(limit)*int64(th) + 99) / 100 // least committed amount that reaches th
			return money.Micros(crossing - 1)
		}
	}
	return limit
}

// ReadPeriod reads a project's period as a whole: its head and shards
// summed, for the project and for each user (sorted by user id). Amounts
// are what the budget enforces; Notified is the head's.
func ReadPeriod(ctx context.Context, st store.BudgetReader, projectID, period string) (store.Period, []store.Period, error) {
	p, err := st.GetPeriod(ctx, projectID, period)
	if err != nil {
		return store.Period{}, nil, err
	}
	users, err := st.ListUserPeriods(ctx, projectID, period)
	if err != nil {
		return store.Period{}, nil, err
	}
	shards, err := st.ListPeriodShards(ctx, projectID, period)
	if err != nil {
		return store.Period{}, nil, err
	}
	byUser := map[string]int{}
	for i, u := range users {
		byUser[u.UserID] = i
	}
	for _, s := range shards {
		if s.UserID == "" {
			p.Spent, p.Reserved = p.Spent+s.Spent, p.Reserved+s.Reserved
			continue
		}
		i, ok := byUser[s.UserID]
		if !ok {
			i = len(users)
			byUser[s.UserID] = i
			users = append(users, store.Period{ProjectID: projectID, ID: period, UserID: s.UserID})
		}
		users[i].Spent, users[i].Reserved = users[i].Spent+s.Spent, users[i].Reserved+s.Reserved
	}
	sortByUser(users)
	return p, users, nil
}

func sortByUser(ps []store.Period) {
	slices.SortFunc(ps, func(a, b store.Period) int { return strings.Compare(a.UserID, b.UserID) })
}
