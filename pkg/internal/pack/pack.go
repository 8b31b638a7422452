// Package pack encodes values into byte slices, for the append-only logs
// of the in-memory test doubles (memqueue's published messages, memstore's
// job timelines): bytes hold no pointers, so the garbage collector does not
// scan what such a log keeps, however long it grows. Reads take what a
// write appended, in the same order; the input is trusted (it is the
// package's own output).
package pack

import (
	"encoding/binary"
	"time"
	"unsafe"
)

// AppendString appends s, length first.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// String reads what AppendString appended; it returns the rest of b.
func String(b []byte) (string, []byte) {
	n, w := binary.Uvarint(b)
	return string(b[w : w+int(n)]), b[w+int(n):]
}

// StringView is String without a copy: the string shares b's bytes, so
// only for bytes that are never changed once written (an append-only log
// whose appends stay within its array's capacity, an encoding made once).
func StringView(b []byte) (string, []byte) {
	n, w := binary.Uvarint(b)
	if n == 0 {
		return "", b[w:]
	}
	return unsafe.String(&b[w], int(n)), b[w+int(n):]
}

// AppendInt appends n.
func AppendInt(b []byte, n int64) []byte { return binary.AppendVarint(b, n) }

// Int reads what AppendInt appended; it returns the rest of b.
func Int(b []byte) (int64, []byte) {
	n, w := binary.Varint(b)
	return n, b[w:]
}

// AppendLen appends the length n of a slice or map, or that it is nil.
func AppendLen(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

// Len reads what AppendLen appended; it returns the rest of b.
func Len(b []byte) (n int, isNil bool, rest []byte) {
	v, w := binary.Uvarint(b)
	if v == 0 {
		return 0, true, b[w:]
	}
	return int(v - 1), false, b[w:]
}

// AppendTime appends t's instant, to the nanosecond (not its location or
// monotonic reading); the zero time stays zero.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// Time reads what AppendTime appended, in the local time zone (zero for
// the zero time); it returns the rest of b.
func Time(b []byte) (time.Time, []byte) {
	if b[0] == 0 {
		return time.Time{}, b[1:]
	}
	ns, w := binary.Varint(b[1:])
	return time.Unix(0, ns), b[1+w:]
}
