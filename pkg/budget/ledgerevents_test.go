package budget_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/budget"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// ledgerBench is a store with a random ledger before end, and a queue
// with aiprod-events.
type ledgerBench struct {
	st      *memstore.Store
	q       *memqueue.Queue
	entries []store.LedgerEntry
	end     time.Time
	now     atomic.Pointer[time.Time] // the rollers' clock: an hour after end at first
}

func ledgerSetup(t *testing.T, n int) *ledgerBench {
	t.Helper()
	b := &ledgerBench{st: memstore.New(), q: memqueue.New(), end: time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)}
	require.NoError(t, b.q.EnsureTopic(context.Background(), queue.TopicEvents))
	b.entries = randomLedger(t, b.st, rand.New(rand.NewPCG(5, 6)), n, b.end)
	now := b.end.Add(time.Hour)
	b.now.Store(&now)
	return b
}

func (b *ledgerBench) roller(t *testing.T, pub queue.Publisher) *budget.Roller {
	t.Helper()
	r, err := budget.NewRoller(budget.RollerConfig{Store: b.st, LedgerEvents: pub, Now: func() time.Time { return *b.now.Load() }})
	require.NoError(t, err)
	return r
}

// published returns the ledger events on aiprod-events, checking each
// message's attributes, and how many copies of each id there are.
func (b *ledgerBench) published(t *testing.T) ([]budget.LedgerEvent, map[string]int) {
	t.Helper()
	var out []budget.LedgerEvent
	copies := map[string]int{}
	for _, m := range b.q.Published(queue.TopicEvents) {
		require.Equal(t, budget.EventTypeLedgerEntry, m.Attributes[queue.AttrEventType])
		var ev budget.LedgerEvent
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		require.Equal(t, ev.ProjectID, m.Attributes[queue.AttrProjectID])
		out = append(out, ev)
		copies[ev.ID]++
	}
	return out, copies
}

// byID returns the events of entries, by id.
func byID(entries []store.LedgerEntry) map[string]budget.LedgerEvent {
	out := map[string]budget.LedgerEvent{}
	for _, e := range entries {
		out[e.ID] = budget.LedgerEventOf(e)
	}
	return out
}

// A round publishes one event per entry it rolls up, with the entry's
// figures; the next round publishes only what settled since.
func TestRollerPublishesEachRoundsLedgerEntriesOnce(t *testing.T) {
	t.Parallel()
	b := ledgerSetup(t, 300)
	r := b.roller(t, b.q)
	res, err := r.RollUp(context.Background())
	require.NoError(t, err)
	require.True(t, res.CaughtUp)
	require.Equal(t, len(b.entries), res.Entries)

	evs, copies := b.published(t)
	require.Equal(t, len(b.entries), len(evs), "one event per entry")
	want := byID(b.entries)
	for _, ev := range evs {
		require.Equal(t, want[ev.ID], ev)
	}

	res, err = r.RollUp(context.Background())
	require.NoError(t, err)
	require.Zero(t, res.Entries)
	_, again := b.published(t)
	require.Equal(t, copies, again, "a round with no entries publishes nothing")

	later := b.now.Load().Add(5 * time.Minute)
	late := entry("late", 1, "luma", "", job.AttemptSucceeded, "0.5", later.Add(-4*time.Minute))
	require.NoError(t, b.st.RunTx(context.Background(), func(tx store.Tx) error { return tx.CreateLedger(late) }))
	b.now.Store(&later)
	res, err = r.RollUp(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, res.Entries)
	evs, _ = b.published(t)
	require.Equal(t, len(b.entries)+1, len(evs))
	require.Equal(t, budget.LedgerEventOf(late), evs[len(evs)-1])
}

// The event of an entry: every field the warehouse reads, money in USD
// and in micro-USD.
func TestLedgerEventOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	e := store.LedgerEntry{ID: "j-2", JobID: "j", Attempt: 2, ProjectID: "dev", UserID: "alice", Backend: "luma", Model: "ray-2",
		Shape:  store.Shape{Tier: job.TierStandard, Resolution: job.Res720p, AspectRatio: job.Aspect16x9, Seconds: 5},
		Period: "2026-12", Seconds: 5, Status: job.AttemptFailed, Estimate: 710_000, Reserved: 710_000, Cost: 350_000,
		Released: 360_000, Final: true, At: at, ErrorCode: "backend_failed", Generation: 42500 * time.Millisecond}
	data, err := json.Marshal(budget.LedgerEventOf(e))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"cost.ledger_entry","id":"j-2","project_id":"dev","user_id":"alice","job_id":"j","attempt":2,
		"backend":"luma","model":"ray-2","status":"failed","final":true,"error_code":"backend_failed",
		"shape":{"tier":"standard","resolution":"720p","aspect_ratio":"16:9","seconds":5},"period":"2026-12","seconds":5,
		"estimate_usd":0.71,"estimate_micros":710000,"cost_usd":0.35,"cost_micros":350000,"generation_seconds":42.5,
		"settled_at":"2026-12-04T09:00:00Z"}`, string(data))
}

// failingPublisher fails every publish after the first ok ones.
type failingPublisher struct {
	queue.Publisher
	ok    int64
	calls atomic.Int64
}

func (p *failingPublisher) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	if p.calls.Add(1) > p.ok {
		return "", errclass.New(errclass.Retryable, "pubsub unavailable")
	}
	// The first ok publishes go out even when a later failure canceled
	// their context meanwhile: they were accepted before it.
	return p.Publisher.Publish(context.WithoutCancel(ctx), topic, m)
}

// A round whose publish fails writes nothing: its entries stay before the
// watermark, and the next round publishes them all (again, for those that
// went out) and rolls them up. No entry is lost; copies share their id.
func TestLedgerPublishFailureEndsTheRound(t *testing.T) {
	t.Parallel()
	b := ledgerSetup(t, 200)
	_, err := b.roller(t, &failingPublisher{Publisher: b.q, ok: 50}).RollUp(context.Background())
	require.ErrorIs(t, err, errclass.Retryable)
	w, err := b.st.GetUsageWatermark(context.Background())
	require.NoError(t, err)
	require.True(t, w.IsZero(), "the watermark did not move")
	days, err := b.st.ListDayUsage(context.Background(), "p", "2026-01-01", "2027-01-01")
	require.NoError(t, err)
	require.Empty(t, days, "nothing rolled up")
	_, copies := b.published(t)
	require.Len(t, copies, 50)

	res, err := b.roller(t, b.q).RollUp(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(b.entries), res.Entries)
	evs, copies := b.published(t)
	require.Equal(t, len(b.entries)+50, len(evs))
	require.Len(t, copies, len(b.entries), "every entry published; deduplicated by id, each once")
	want := byID(b.entries)
	for _, ev := range evs {
		require.Equal(t, want[ev.ID], ev, "a copy is the same event")
	}
}

// hookPublisher runs hook once, at its first publish, before publishing.
type hookPublisher struct {
	queue.Publisher
	once sync.Once
	hook func()
}

func (p *hookPublisher) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	p.once.Do(p.hook)
	return p.Publisher.Publish(ctx, topic, m)
}

// A round that races (another roller moves the watermark while it
// publishes) writes nothing, but its events are out: duplicates of the
// winner's, with the same ids and contents, which SQL removes by id.
func TestRacedRoundLeavesOnlyDuplicateLedgerEvents(t *testing.T) {
	t.Parallel()
	b := ledgerSetup(t, 120)
	winner := b.roller(t, b.q)
	var won budget.RollResult
	var wonErr error
	hook := func() { won, wonErr = winner.RollUp(context.Background()) }
	res, err := b.roller(t, &hookPublisher{Publisher: b.q, hook: hook}).RollUp(context.Background())
	require.NoError(t, err)
	require.NoError(t, wonErr)
	require.True(t, res.Raced)
	require.Zero(t, res.Entries)
	require.Equal(t, len(b.entries), won.Entries, "the winner rolled everything up")

	evs, copies := b.published(t)
	require.Equal(t, 2*len(b.entries), len(evs), "each entry by the winner and by the raced round")
	want := byID(b.entries)
	require.Len(t, copies, len(want))
	for _, ev := range evs {
		require.Equal(t, want[ev.ID], ev)
		require.Equal(t, 2, copies[ev.ID])
	}
}

// Without LedgerEvents nothing is published, and PublishLedger with no
// publisher or no entries does nothing.
func TestNoLedgerEventsWithoutAPublisher(t *testing.T) {
	t.Parallel()
	b := ledgerSetup(t, 20)
	res, err := b.roller(t, nil).RollUp(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(b.entries), res.Entries)
	require.Empty(t, b.q.Published(queue.TopicEvents))
	require.NoError(t, budget.PublishLedger(context.Background(), nil, b.entries))
	require.NoError(t, budget.PublishLedger(context.Background(), b.q, nil))
	require.Empty(t, b.q.Published(queue.TopicEvents))
	// A publish that fails names the entry.
	err = budget.PublishLedger(context.Background(), &failingPublisher{Publisher: b.q}, b.entries[:1])
	require.ErrorContains(t, err, b.entries[0].ID)
	require.True(t, errors.Is(err, errclass.Retryable))
}
