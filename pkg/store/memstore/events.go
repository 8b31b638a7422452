package memstore

import (
	"cmp"
	"slices"

	"github.com/aiprod/aiprod/pkg/internal/pack"
	"github.com/aiprod/aiprod/pkg/store"
)

// A job's timeline is kept as its events encoded one after the other, as
// written (package pack): a long run keeps every event of every job, and
// bytes are not scanned by the garbage collector, where a map of events per
// job, with the events' strings, made up most of what it scanned.

// eventsCap is the capacity a job's events start with: a job's usual
// timeline fits, instead of being copied as it grows.
const eventsCap = 1024

// appendEvent appends e, whose time is normalised, to a job's events.
func appendEvent(b []byte, e store.Event) []byte {
	if b == nil {
		b = make([]byte, 0, eventsCap)
	}
	b = pack.AppendString(b, e.ID)
	b = pack.AppendTime(b, e.At)
	b = pack.AppendString(b, e.Stage)
	b = pack.AppendString(b, e.Type)
	b = pack.AppendString(b, e.Backend)
	b = pack.AppendInt(b, int64(e.Attempt))
	b = pack.AppendString(b, e.Message)
	b = pack.AppendString(b, e.TraceID)
	return pack.AppendString(b, e.SpanID)
}

// decodeEvents returns a job's events by event id, the last one written of
// an id (a document written again) in its place; empty, not nil, for none.
func decodeEvents(b []byte) []store.Event {
	out := []store.Event{}
	for len(b) > 0 {
		var e store.Event
		var n int64
		e.ID, b = pack.String(b)
		e.At, b = pack.Time(b)
		e.At = norm(e.At)
		e.Stage, b = pack.String(b)
		e.Type, b = pack.String(b)
		e.Backend, b = pack.String(b)
		n, b = pack.Int(b)
		e.Attempt = int(n)
		e.Message, b = pack.String(b)
		e.TraceID, b = pack.String(b)
		e.SpanID, b = pack.String(b)
		out = append(out, e)
	}
	// Stable: of the events of one id, the last written stays last, and
	// is the one kept.
	slices.SortStableFunc(out, func(a, b store.Event) int { return cmp.Compare(a.ID, b.ID) })
	kept := out[:0]
	for i, e := range out {
		if i+1 == len(out) || out[i+1].ID != e.ID {
			kept = append(kept, e)
		}
	}
	return kept
}
