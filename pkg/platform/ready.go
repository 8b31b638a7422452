package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
)

// readyProbeJobID is the job Ready reads: none has this id (job ids are
// UUIDs), so the read costs one document read and answers NotFound.
const readyProbeJobID = "readyz-probe"

// Ready returns a readiness check over st and q, for api.Config.Ready
// (GET /readyz): nil once the store answers a read of one job and the
// queue says that each of topics exists. A job that is not found is an
// answer; an unreachable store, a missing topic or a closed client is not,
// and the error says which dependency failed and why. It makes one store
// read and one CheckTopic per topic, with ctx's deadline, and is safe for
// concurrent use.
func Ready(st store.Store, q queue.TopicChecker, topics ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		if _, err := st.GetJob(ctx, readyProbeJobID); err != nil && !errors.Is(err, errclass.NotFound) {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
		for _, t := range topics {
			if err := q.CheckTopic(ctx, t); err != nil {
				errs = append(errs, fmt.Errorf("queue: %w", err))
			}
		}
		return errors.Join(errs...)
	}
}
