package storetest

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/store"
)

// CreateJob is a raw write for tests that set up state: it creates j unless a job with its id exists. It returns the stored
// job and whether this call created it; an existing job is returned as is
// (idempotent create: the same idempotency key gives the same job).
func CreateJob(ctx context.Context, s store.Store, j *job.Job) (*job.Job, bool, error) {
	var stored *job.Job
	var created bool
	err := s.RunTx(ctx, func(tx store.Tx) error {
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
		store.NormalizeTimes(c)
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

// UpdateJob is a raw write for tests that put a job in a given state,
// bypassing the budget settlement of package jobwrite: it reads job id, applies fn to a copy and writes the result, all in
// one transaction. When fn returns an error nothing is written and the error
// is returned (fn's errors are not wrapped, so errors.Is on them works).
// fn may run more than once.
func UpdateJob(ctx context.Context, s store.Store, id string, fn func(j *job.Job) error) (*job.Job, error) {
	var out *job.Job
	err := s.RunTx(ctx, func(tx store.Tx) error {
		j, err := tx.GetJob(id)
		if err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
		store.NormalizeTimes(j)
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
