package storetest

import (
	"context"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/jobwrite"
	"github.com/aiprod/aiprod/pkg/store"
)

// CreateJob creates j unless a job with its id exists, through the job-write
// path (jobwrite.Writer.Create), so that the suite runs that path against
// every store. It returns the stored job and whether this call created it;
// an existing job is returned as is.
func CreateJob(ctx context.Context, s store.Store, j *job.Job) (*job.Job, bool, error) {
	return jobwrite.New(jobwrite.Config{Store: s}).Create(ctx, j)
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
