package pubsubemu

import (
	"container/heap"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// heldState is where a held message is in its subscription.
type heldState uint8

const (
	stateNone    heldState = iota // not yet placed, or removed
	stateReady                    // in the ready list, waiting for a receiver
	stateLeased                   // delivered; its lease ends at due
	stateBackoff                  // failed; delivered again after due (retry policy)
)

// held is one message held by one subscription until it is acked,
// dead-lettered or past the subscription's retention. The message itself
// is shared, read-only, by every subscription of its topic: what one held
// costs is this struct and its map entry.
type held struct {
	msg     *pubsubpb.PubsubMessage
	size    int64     // data and attributes, for flow control by bytes
	seq     uint64    // key in subscription.held, part of its ack ids
	expires time.Time // publish time + retention
	// due is the key of the subscription's timer heap: the lease's end
	// (leased), the backoff's end (backoff) or expires (ready).
	due      time.Time
	attempts int32 // deliveries so far; the current delivery's number
	state    heldState
	// expired: the current delivery ended by its lease running out, not
	// by a nack; an Ack of it still counts until the next delivery.
	expired    bool
	heapIdx    int
	prev, next *held   // the ready list
	owner      *stream // the stream it is leased to (nil: a Pull)
}

// readyList is the FIFO of ready messages, linked through the messages
// themselves so that any of them leaves it in O(1).
type readyList struct {
	head, tail *held
	n          int
}

func (l *readyList) pushBack(h *held) {
	h.prev, h.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = h
	} else {
		l.head = h
	}
	l.tail = h
	l.n++
}

func (l *readyList) pushFront(h *held) {
	h.prev, h.next = nil, l.head
	if l.head != nil {
		l.head.prev = h
	} else {
		l.tail = h
	}
	l.head = h
	l.n++
}

func (l *readyList) remove(h *held) {
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		l.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		l.tail = h.prev
	}
	h.prev, h.next = nil, nil
	l.n--
}

// dueHeap orders a subscription's held messages by due: the next lease
// to expire, backoff to end or retention to run out is at the top, and
// the subscription's one timer is set for it.
type dueHeap []*held

func (q dueHeap) Len() int           { return len(q) }
func (q dueHeap) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].heapIdx, q[j].heapIdx = i, j
}

func (q *dueHeap) Push(x any) {
	h := x.(*held)
	h.heapIdx = len(*q)
	*q = append(*q, h)
}

func (q *dueHeap) Pop() any {
	old := *q
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	h.heapIdx = -1
	return h
}

// setDue moves h in the heap to its new due time.
func (q *dueHeap) setDue(h *held, due time.Time) {
	h.due = due
	heap.Fix(q, h.heapIdx)
}
