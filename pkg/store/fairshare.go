package store

import (
	"maps"
	"time"
)

// # Fair share of a backend's slots between projects
//
// Slots are per backend: without a rule, one project's backlog retakes
// every slot as it frees and every other project waits behind it.
// AcquireSlot shares a backend's capacity C between the projects that have
// work waiting, and never leaves a slot idle that the only asker could use:
//
//   - A slot records its holder's project (Slot.Project).
//   - A project whose claim is refused leaves a waiting mark: project →
//     expiry in SlotWaiters, backends/{backend}/slots/waiting. Its waiting
//     deliveries retry every 50 ms–2 s and so keep the mark fresh, but the
//     mark is written only when absent or past half its life: a waiting
//     project costs one write per MarkTTL/2, not one per retry.
//   - active = projects holding a slot ∪ projects with a fresh mark ∪ the
//     claimant; k = |active|, floor = ⌊C/k⌋, share = ⌈C/k⌉. A project holding
//     h slots may take a free one when h < floor; when floor ≤ h < share,
//     if every other waiting project holds at least floor; when h ≥ share,
//     if every other waiting project holds at least share.
//   - Holders are never evicted: fairness comes as generations finish. A
//     holder re-entering its own slot is always let in, and a generation
//     already running at the provider (SlotClaim.Resume) takes any free
//     slot: it runs whether it holds one or not.
//
// Invariant: with capacity C and k active projects, once the generations
// running turn over, each project with work waiting runs at least ⌊C/k⌋
// generations, unless it has less work. While a waiting project P holds
// fewer than ⌊C/k⌋, no project holding ⌊C/k⌋ or more may take a free slot
// (P is below the level it needs), and those below ⌊C/k⌋ can climb only to
// it. So once the slots held above ⌊C/k⌋ have been released, the others
// hold at most (k-1)·⌊C/k⌋ and P at most ⌊C/k⌋-1: fewer than C, so a slot
// is free whenever P asks, until P reaches ⌊C/k⌋.
//
// Only waiting projects hold others back: a project that holds slots but
// has nothing waiting does not, so a lone project's backlog still fills
// every slot (work-conserving). The middle level makes the project furthest
// behind win the next free slot: with share as the only threshold, a
// project at ⌊C/k⌋ and one below it could both take it, and the invariant
// would hold only by luck of timing.
//
// A mark outlives its project's work by up to MarkTTL, during which the
// others are held at their share while that project's slots stay free:
// the cost of not writing the mark away on every acquisition. A project
// whose deliveries are all between nacks (SlotWait ran out) lets its mark
// lapse and is not counted until it asks again.
//
// Storage and cost. The marks are one document per backend, read in the
// same batch get as the slots: an acquisition is still one round trip (C+1
// document reads instead of C) and, when it succeeds, the one slot write of
// before. A collection of per-project mark documents would spread the
// writes, but it has to be queried: a second round trip on every
// acquisition, and a query in a transaction conflicts with a new mark just
// as the one document does. Mark writes are rare (at the worker's 10 s TTL,
// one every 5 s per waiting project), so the document stays under
// Firestore's sustained one write per second per document until about five
// projects wait on one backend at once; each mark write aborts the
// acquisitions racing with it (the client retries them), as every slot
// write already does.

// SlotWaitMarkDefault is SlotClaim.MarkTTL's default: a few times the
// longest pause between a waiting worker's tries.
const SlotWaitMarkDefault = 10 * time.Second

// SlotWaiters are a backend's waiting marks: project → when its mark
// expires. A mark at or before now is no mark.
type SlotWaiters map[string]time.Time

// waitingAt returns the projects whose mark is fresh at now.
func (w SlotWaiters) waitingAt(now time.Time) map[string]bool {
	out := map[string]bool{}
	for p, until := range w {
		if now.Before(until) {
			out[p] = true
		}
	}
	return out
}

// marked returns w with project's mark set to now+ttl and expired marks
// dropped, and whether that needs writing: only when project's mark is
// absent or has less than half of ttl left.
func (w SlotWaiters) marked(project string, now time.Time, ttl time.Duration) (SlotWaiters, bool) {
	if until, ok := w[project]; ok && until.Sub(now) >= ttl/2 {
		return w, false
	}
	out := maps.Clone(w)
	if out == nil {
		out = SlotWaiters{}
	}
	maps.DeleteFunc(out, func(_ string, until time.Time) bool { return !now.Before(until) })
	out[project] = NormalizeTime(now.Add(ttl))
	return out, true
}

// mayTake is the fair-share rule above: may project, now holding
// held[project] of capacity slots, take a free one? held counts the slots
// held per project; waiting is the projects with a fresh mark.
func mayTake(capacity int, held map[string]int, waiting map[string]bool, project string) bool {
	active := map[string]bool{project: true}
	for p, n := range held {
		if n > 0 {
			active[p] = true
		}
	}
	maps.Copy(active, waiting)
	k := len(active)
	floor, share := capacity/k, (capacity+k-1)/k
	h := held[project]
	need := share
	switch {
	case h < floor:
		return true
	case h < share:
		need = floor
	}
	for p := range waiting {
		if p != project && held[p] < need {
			return false
		}
	}
	return true
}
