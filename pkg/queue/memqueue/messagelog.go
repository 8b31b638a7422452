package memqueue

import (
	"time"

	"github.com/aiprod/aiprod/pkg/internal/pack"
	"github.com/aiprod/aiprod/pkg/queue"
)

// body is a message's data and attributes, encoded (package pack): what
// the queue keeps of a message, shared by its subscriptions' entries and
// its topic's log and never changed. Publish encodes it (one allocation,
// where copying the data and the map took two); every delivery, and
// Published, decodes fresh copies.
type body []byte

func encodeBody(data []byte, attrs map[string]string) body {
	size := 2*10 + len(data)
	for k, v := range attrs {
		size += 2*10 + len(k) + len(v)
	}
	b := append(pack.AppendLen(make([]byte, 0, size), len(data), data == nil), data...)
	b = pack.AppendLen(b, len(attrs), attrs == nil)
	for k, v := range attrs {
		b = pack.AppendString(pack.AppendString(b, k), v)
	}
	return b
}

// decode returns the data and attributes (nil as published), and what
// follows the body in b's array. The data and the map are fresh copies;
// their strings share b's bytes, which are never changed.
func (b body) decode() (data []byte, attrs map[string]string, rest []byte) {
	n, isNil, r := pack.Len(b)
	if !isNil {
		data, r = append(make([]byte, 0, n), r[:n]...), r[n:]
	}
	if n, isNil, r = pack.Len(r); !isNil {
		attrs = make(map[string]string, n)
		for range n {
			var k, v string
			k, r = pack.StringView(r)
			v, r = pack.StringView(r)
			attrs[k] = v
		}
	}
	return data, attrs, r
}

// messageLog is every message published to a topic, in order, for
// Published: it only grows, so it keeps the messages' ids, bodies and
// publish times as bytes in chunks, which the garbage collector does not
// scan. Kept as queue.Messages (a map and slices each) the log was most of
// what a long run's heap gave the collector to scan, at every cycle.
type messageLog struct {
	chunks [][]byte
	n      int
}

// messageLogChunk is the size of a chunk; a larger message has a chunk of
// its own.
const messageLogChunk = 64 << 10

// add appends a message: its id, body and publish time (its instant: not
// its monotonic reading, and read back in the local time zone).
func (l *messageLog) add(id string, b body, at time.Time) {
	size := 10 + len(id) + len(b) + 11
	last := len(l.chunks) - 1
	if last < 0 || cap(l.chunks[last])-len(l.chunks[last]) < size {
		l.chunks = append(l.chunks, make([]byte, 0, max(messageLogChunk, size)))
		last++
	}
	c := append(pack.AppendString(l.chunks[last], id), b...)
	l.chunks[last] = pack.AppendTime(c, at)
	l.n++
}

// messages decodes the log: fresh copies, in order; empty, not nil, when
// nothing was published.
func (l *messageLog) messages() []queue.Message {
	out := make([]queue.Message, 0, l.n)
	for _, r := range l.chunks {
		for len(r) > 0 {
			var m queue.Message
			m.ID, r = pack.StringView(r)
			m.Data, m.Attributes, r = body(r).decode()
			m.PublishTime, r = pack.Time(r)
			out = append(out, m)
		}
	}
	return out
}
