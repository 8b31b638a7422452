package budget

import (
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShardPickLastsUntilDone: a shard picked by a transaction of this
// process stays out of the next picks until that transaction ends, however
// long it takes, and is free again at once when it does; with every shard
// in flight a pick falls back to its start.
func TestShardPickLastsUntilDone(t *testing.T) {
	const project = "pick-test"
	a, pa := pickShard(project, 5)
	b, pb := pickShard(project, 5)
	require.Equal(t, 5, a)
	require.Equal(t, 6, b, "shard 5 is still in flight")
	pa.release()
	c, pc := pickShard(project, 5)
	require.Equal(t, 5, c, "free again once its transaction ended")
	pa.release() // a late second release leaves c's mark alone
	d, pd := pickShard(project, 5)
	require.Equal(t, 7, d)
	picks := []shardPick{pb, pc, pd}
	for range Shards - 3 {
		_, p := pickShard(project, 1)
		picks = append(picks, p)
	}
	full, p := pickShard(project, 9)
	require.Equal(t, 9, full, "every shard in flight: the start")
	require.Nil(t, p.slot, "and no mark of its own to release")
	for _, p := range picks {
		p.release()
	}
	again, p := pickShard(project, 9)
	require.Equal(t, 9, again)
	p.release()
}

// hash32 is FNV-1a: the shards jobs and projects map to stay where they
// were.
func TestHash32IsFNV1a(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "bench", "5f0c6a1e-2b4d-4e0a-9c55-0b9d2f7e4a10", "projet-é"} {
		h := fnv.New32a()
		_, _ = h.Write([]byte(s))
		require.Equal(t, h.Sum32(), hash32(s), s)
	}
}
