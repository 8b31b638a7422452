package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

// CreateJob creates j unless a job with its id exists. It returns the stored
// job and whether this call created it; an existing job is returned as is
// (idempotent create: the same idempotency key gives the same job).
func CreateJob(ctx context.Context, s Store, j *job.Job) (*job.Job, bool, error) {
	var stored *job.Job
	var created bool
	err := s.RunTx(ctx, func(tx Tx) error {
		stored, created = nil, false
		existing, err := tx.GetJob(j.ID)
		switch {
		case err == nil:
			stored = existing
			return nil
		case !errors.Is(err, errclass.NotFound):
			return err
		}
		c := j.Clone()
		NormalizeTimes(c)
		if err := tx.CreateJob(c); err != nil {
			return err
		}
		stored, created = c, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	return stored, created, nil
}

// UpdateJob reads job id, applies fn to a copy and writes the result, all in
// one transaction. When fn returns an error nothing is written and the error
// is returned (fn's errors are not wrapped, so errors.Is on them works).
// fn may run more than once.
func UpdateJob(ctx context.Context, s Store, id string, fn func(j *job.Job) error) (*job.Job, error) {
	var out *job.Job
	err := s.RunTx(ctx, func(tx Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
		NormalizeTimes(j)
		if err := tx.PutJob(j); err != nil {
			return err
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

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

// NewEventID returns an id that sorts events by time: the zero-padded Unix
// nanoseconds of at, then random hex so that ids from several processes
// never collide.
func NewEventID(at time.Time) string {
	return fmt.Sprintf("%020d-%s", at.UnixNano(), uuid.NewString()[:8])
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

func normalizePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := NormalizeTime(*t)
	return &v
}
