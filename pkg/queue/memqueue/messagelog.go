package memqueue

import (
	"github.com/aiprod/aiprod/pkg/internal/pack"
	"github.com/aiprod/aiprod/pkg/queue"
)

// messageLog is every message published to a topic, in order, for
// Published. It only grows, so it keeps the messages encoded (package pack)
// in chunks of bytes, which the garbage collector does not scan: kept as
// queue.Messages (a map and slices each) the log was most of what a long
// run's heap gave the collector to scan, at every cycle.
type messageLog struct {
	chunks  [][]byte
	n       int
	scratch []byte // one message's encoding, reused
}

// messageLogChunk is the size of a chunk; a larger message has a chunk of
// its own.
const messageLogChunk = 64 << 10

// add appends m: its id, data, attributes and publish time (its instant:
// not its monotonic reading, and read back in the local time zone).
func (l *messageLog) add(m queue.Message) {
	b := pack.AppendString(l.scratch[:0], m.ID)
	b = append(pack.AppendLen(b, len(m.Data), m.Data == nil), m.Data...)
	b = pack.AppendLen(b, len(m.Attributes), m.Attributes == nil)
	for k, v := range m.Attributes {
		b = pack.AppendString(pack.AppendString(b, k), v)
	}
	b = pack.AppendTime(b, m.PublishTime)
	l.scratch = b

	last := len(l.chunks) - 1
	if last < 0 || cap(l.chunks[last])-len(l.chunks[last]) < len(b) {
		l.chunks = append(l.chunks, make([]byte, 0, max(messageLogChunk, len(b))))
		last++
	}
	l.chunks[last] = append(l.chunks[last], b...)
	l.n++
}

// messages decodes the log: fresh copies, in order; empty, not nil, when
// nothing was published.
func (l *messageLog) messages() []queue.Message {
	out := make([]queue.Message, 0, l.n)
	for _, b := range l.chunks {
		for len(b) > 0 {
			var m queue.Message
			m.ID, b = pack.String(b)
			n, isNil, b2 := pack.Len(b)
			if b = b2; !isNil {
				m.Data, b = append(make([]byte, 0, n), b[:n]...), b[n:]
			}
			if n, isNil, b = pack.Len(b); !isNil {
				m.Attributes = make(map[string]string, n)
				for range n {
					var k, v string
					k, b = pack.String(b)
					v, b = pack.String(b)
					m.Attributes[k] = v
				}
			}
			m.PublishTime, b = pack.Time(b)
			out = append(out, m)
		}
	}
	return out
}
