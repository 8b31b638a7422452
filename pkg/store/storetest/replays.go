package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/store"
)

// testDLQReplays pins store.DLQReplays: an outcome round-trips (times in
// UTC microseconds), the first one recorded for an id stays (Conflict),
// an absent id is NotFound, a bad one Permanent, and what Get returns does
// not alias the store.
func testDLQReplays(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := s.GetDLQReplay(ctx, "req-1")
	require.ErrorIs(t, err, errclass.NotFound)

	r := store.DLQReplay{ID: "req-1", Subscription: "aiprod-jobs-dlq",
		Replayed: []store.ReplayedLetter{{ID: "m1", Topic: "aiprod-jobs"}, {ID: "m2", Topic: "aiprod-dispatch-luma"}},
		NotFound: []string{"gone"}, Error: "publish failed", CreatedAt: t0}
	require.NoError(t, s.CreateDLQReplay(ctx, r))
	got, err := s.GetDLQReplay(ctx, "req-1")
	require.NoError(t, err)
	want := r
	want.CreatedAt = store.NormalizeTime(t0)
	require.Equal(t, want, got)

	second := store.DLQReplay{ID: "req-1", Subscription: "aiprod-events-dlq", CreatedAt: t0}
	require.ErrorIs(t, s.CreateDLQReplay(ctx, second), errclass.Conflict)
	got, err = s.GetDLQReplay(ctx, "req-1")
	require.NoError(t, err)
	require.Equal(t, want, got, "the first outcome stays")

	got.Replayed[0].Topic = "changed"
	again, err := s.GetDLQReplay(ctx, "req-1")
	require.NoError(t, err)
	require.Equal(t, "aiprod-jobs", again.Replayed[0].Topic, "Get does not alias the store")

	require.NoError(t, s.CreateDLQReplay(ctx, store.DLQReplay{ID: "req-2", Subscription: "aiprod-jobs-dlq", CreatedAt: t0}))
	empty, err := s.GetDLQReplay(ctx, "req-2")
	require.NoError(t, err)
	require.Empty(t, empty.Replayed)
	require.Empty(t, empty.NotFound)
	require.Empty(t, empty.Error)

	for _, bad := range []string{"", "a/b", ".."} {
		require.ErrorIs(t, s.CreateDLQReplay(ctx, store.DLQReplay{ID: bad, CreatedAt: t0}), errclass.Permanent, "id %q", bad)
	}
}
