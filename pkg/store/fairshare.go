package store

import (
	"maps"
	"time"
)

// # Fair share of a backend's slots between projects
//
// Slots are per backend: first come, first served, one project's backlog
// retakes every slot that frees and the other projects wait behind it.
// AcquireSlot shares a backend's capacity C between the projects that have
// work waiting, and stays work-conserving:
//
//   - A slot records its holder's project. A project whose claim is refused
//     leaves a waiting mark (SlotWaiters, project → expiry). Its deliveries
//     retry every 50 ms–2 s, but the mark is written only when absent or
//     past half its life: one write per MarkTTL/2 per waiting project.
//   - active = holders' projects ∪ fresh marks ∪ the claimant; k = |active|,
//     floor = ⌊C/k⌋, share = ⌈C/k⌉. A project holding h may take a free slot
//     when h < floor; when h < share, if every other waiting project holds
//     floor; otherwise, if every other waiting project holds share.
//   - Holders are never evicted; a holder re-enters its own slot, and a
//     generation already running (SlotClaim.Resume) takes any free slot.
//
// Invariant: with capacity C and k active projects, once the running
// generations turn over, each project with work waiting runs at least
// ⌊C/k⌋, unless it has less work. While a waiting P holds fewer, no project
// at ⌊C/k⌋ or above may take a free slot and those below can climb only to
// ⌊C/k⌋; so once the slots held above it are released, the others hold at
// most (k-1)·⌊C/k⌋, P at most ⌊C/k⌋-1, and a slot is free whenever P asks.
//
// Only waiting projects hold others back (a holder with nothing waiting
// does not), so a lone backlog fills every slot. The middle level makes the
// project furthest behind win: with share as the only threshold, projects
// at and below ⌊C/k⌋ could both take the next slot and the invariant would
// hold by luck of timing. Costs of not writing on success: a mark outlives
// its project's work by up to MarkTTL, holding the others at their share
// meanwhile; a project whose deliveries are all between nacks lets its mark
// lapse until it asks again.
//
// Storage: the marks live in the backend's SlotTable (slots.go), the one
// document that holds its slots too, backends/{b}/slots/all: an
// acquisition reads one document whatever the capacity and, when it
// succeeds, writes it once; a refusal writes it only to refresh its mark.
// (Before, each slot was a document and the marks another: C+1 reads per
// acquisition, 11 for fal, 1,001 for a backend of 1,000 slots.) Since an
// acquisition reads every slot and the marks, any write of them conflicted
// with every concurrent acquisition either way; what one document adds is
// that renewals and releases now conflict with each other too. Writes to
// the document, per backend: an acquisition and a release per generation,
// a renewal per held slot every SlotLease/3 (40 s at the worker's 2 min),
// a mark per waiting project per MarkTTL/2 (5 s): fal at 10 slots and
// 60 s generations about 0.6 writes a second, under Firestore's sustained
// one write per second per document; a backend of 1,000 slots with 60 s
// generations about 58 a second (33 acquisitions and releases, 25
// renewals), which that document serialises: each write aborts the
// transactions racing with it and the client retries them. Such a backend
// would want its slots split into several tables, each with its share of
// the capacity. Size: MaxSlots slots and MaxSlotWaiters marks bound the
// document to about 500 KB, under Firestore's 1 MiB.

// SlotWaitMarkDefault is SlotClaim.MarkTTL's default: a few times the
// longest pause between a waiting worker's tries.
const SlotWaitMarkDefault = 10 * time.Second

// MaxSlotWaiters bounds a backend's waiting marks, so that its SlotTable
// stays well under Firestore's 1 MiB (a mark takes at most 72 bytes). A
// project refused while that many others hold fresh marks leaves none: it
// still gets a slot when the rule lets it, but holds nobody back.
const MaxSlotWaiters = 4096

// SlotWaiters are a backend's waiting marks: project → when its mark
// expires. A mark at or before now is no mark.
type SlotWaiters map[string]time.Time

// AnyAt reports whether some project's mark is fresh at now: deliveries
// were refused a slot of the backend within the last MarkTTL.
func (w SlotWaiters) AnyAt(now time.Time) bool {
	for _, until := range w {
		if now.Before(until) {
			return true
		}
	}
	return false
}

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
// absent or has less than half of ttl left, and there is room for it
// (MaxSlotWaiters).
func (w SlotWaiters) marked(project string, now time.Time, ttl time.Duration) (SlotWaiters, bool) {
	if until, ok := w[project]; ok && until.Sub(now) >= ttl/2 {
		return w, false
	}
	out := maps.Clone(w)
	if out == nil {
		out = SlotWaiters{}
	}
	maps.DeleteFunc(out, func(_ string, until time.Time) bool { return !now.Before(until) })
	if _, ok := out[project]; !ok && len(out) >= MaxSlotWaiters {
		return w, false
	}
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
