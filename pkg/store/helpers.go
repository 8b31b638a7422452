package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/aiprod/aiprod/pkg/job"
)

// UpdateBackend reads backend name's state, applies fn and writes it, in one
// transaction. It returns the written state.
func UpdateBackend(ctx context.Context, s Store, name string, now time.Time, fn func(b *BackendState) error) (BackendState, error) {
	var out BackendState
	err := s.RunTx(ctx, func(tx Tx) error {
		b, err := tx.GetBackend(name)
		if err != nil {
			return err
		}
		if err := fn(&b); err != nil {
			return err
		}
		b.Name = name
		b.UpdatedAt = NormalizeTime(now)
		b.Breaker.OpenedAt = NormalizeTime(b.Breaker.OpenedAt)
		b.Breaker.ProbeStartedAt = NormalizeTime(b.Breaker.ProbeStartedAt)
		if err := tx.PutBackend(b); err != nil {
			return err
		}
		out = b
		return nil
	})
	return out, err
}

// HashAPIKey returns the hex SHA-256 of an API key's text: the only form in
// which keys are stored.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyPrefix returns the part of an API key's text that listings show to
// recognise it: a quarter of the key, at most 11 characters (for a
// generated key "aiprod_" and 4 characters of its 256 random bits), so it is
// never enough to use the key.
func KeyPrefix(key string) string {
	return key[:min(11, len(key)/4)]
}

// SortAPIKeys sorts keys newest first (created_at desc, then hash), the
// order of Store.ListAPIKeys.
func SortAPIKeys(keys []APIKey) {
	slices.SortFunc(keys, func(a, b APIKey) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.Hash, b.Hash))
	})
}

// NewEventID returns an id that sorts events by time: the zero-padded Unix
// nanoseconds of at, then random hex so that ids from several processes
// never collide.
func NewEventID(at time.Time) string {
	ns := at.UnixNano()
	if ns < 0 {
		return fmt.Sprintf("%020d-%s", ns, uuid.NewString()[:8])
	}
	// "%020d-" and 8 random hex digits (what the first 8 of a random UUID
	// are), without fmt.
	var d [20]byte
	digits := strconv.AppendInt(d[:0], ns, 10) // at most 19 digits
	var b [20 + 1 + 8]byte
	for i := range 20 - len(digits) {
		b[i] = '0'
	}
	copy(b[20-len(digits):], digits)
	b[20] = '-'
	var r [4]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	hex.Encode(b[21:], r[:])
	return string(b[:])
}

// NormalizeTime returns t as a store gives it back: in UTC, truncated to
// microseconds (Firestore's precision), without a monotonic clock reading.
// The zero time stays zero.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// NormalizeTimes applies NormalizeTime to every time of j, in place. The
// helpers above call it so that the job they return equals the stored one.
func NormalizeTimes(j *job.Job) {
	j.CreatedAt = NormalizeTime(j.CreatedAt)
	j.UpdatedAt = NormalizeTime(j.UpdatedAt)
	j.CompletedAt = normalizePtr(j.CompletedAt)
	j.RedrivenAt = normalizePtr(j.RedrivenAt)
	for i := range j.Attempts {
		a := &j.Attempts[i]
		a.StartedAt = NormalizeTime(a.StartedAt)
		a.SubmittedAt = normalizePtr(a.SubmittedAt)
		a.EndedAt = normalizePtr(a.EndedAt)
		a.LastProgressAt = normalizePtr(a.LastProgressAt)
		a.RetryAt = normalizePtr(a.RetryAt)
		a.NotBefore = normalizePtr(a.NotBefore)
	}
}

// normalizePtr returns t when it is nil or normalized already (most are:
// they were read from a store), else a pointer to its normalized copy; *t
// is never changed.
func normalizePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := NormalizeTime(*t)
	if v == *t { //nolint:staticcheck // the representation, not the instant: the same instant in another location still needs normalizing
		return t
	}
	n := new(time.Time) // allocated on this path only
	*n = v
	return n
}
