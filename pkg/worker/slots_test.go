package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/retry"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/worker"
)

// busyHolders collects, from the worker's retry hook, the attempts that
// found every concurrency slot taken.
type busyHolders struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (b *busyHolders) hook(c *worker.Config) {
	c.Retry = retry.Policy{MaxAttempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond,
		OnRetry: func(_ int, err error, _ time.Duration) {
			if !errors.Is(err, store.ErrNoFreeSlot) {
				return
			}
			// "acquire a alpha slot for <job>#<attempt>: no free ..."
			_, rest, _ := strings.Cut(err.Error(), " for ")
			holder, _, _ := strings.Cut(rest, ":")
			b.mu.Lock()
			b.seen[holder] = true
			b.mu.Unlock()
		}}
}

func (b *busyHolders) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func TestConcurrencyCapHoldsAcrossInstances(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold}) // alpha: concurrency 2 in the catalog
	busy := &busyHolders{seen: map[string]bool{}}
	// Two instances, each of which alone would allow 2 at once.
	w1 := e.newWorker(t, busy.hook, func(c *worker.Config) { c.SlotWait = time.Minute })
	w2 := e.newWorker(t, busy.hook, func(c *worker.Config) { c.SlotWait = time.Minute })

	const n = 6
	var (
		ids  []string
		msgs []dispatch.Message
	)
	for range n {
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		ids, msgs = append(ids, j.ID), append(msgs, msg)
	}
	verdicts := make(chan string, n)
	for i, msg := range msgs {
		w := w1
		if i%2 == 1 {
			w = w2
		}
		go func() { verdicts <- deliver(ctx, t, w, msg, 1) }()
	}
	// Every delivery is in hand: two generations run, and the four other
	// attempts have each found every slot taken.
	require.Eventually(t, func() bool { return busy.count() == n-2 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 2, e.fakes["alpha"].totalSubmits(), "only the slots' holders submitted")

	close(hold)
	for range n {
		require.Equal(t, "ack", <-verdicts)
	}
	for _, id := range ids {
		require.Equal(t, job.StatusSucceeded, e.job(t, id).Status)
	}
	require.Equal(t, n, e.fakes["alpha"].totalSubmits())
	require.Equal(t, 2, e.fakes["alpha"].peak(), "never more than the catalog's concurrency at once, across instances")
	require.Equal(t, freeSlots(2), e.slots(t, "alpha", 2))
}

func TestNoFreeSlotNacksWithoutSubmitting(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	w := e.newWorker(t, func(c *worker.Config) { c.SlotWait = 20 * time.Millisecond })
	var running []chan string
	for range 2 {
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		done := make(chan string, 1)
		go func() { done <- deliver(ctx, t, w, msg, 1) }()
		e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
		running = append(running, done)
	}

	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second) // fail, not hang, should it submit and poll
	defer cancel()
	require.Equal(t, "nack", deliver(bounded, t, w, msg, 1), "no slot within SlotWait: nack, the message comes back")
	require.Equal(t, 0, e.fakes["alpha"].submitCount(j.ID))
	got := e.job(t, j.ID)
	require.Equal(t, job.StatusDispatched, got.Status)
	require.Equal(t, job.AttemptDispatched, got.Attempts[0].Status, "no intent recorded")

	close(hold)
	for _, done := range running {
		require.Equal(t, "ack", <-done)
	}
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2), "the redelivery finds a slot")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
}

func TestCrashedHoldersSlotFreesAtLeaseExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hold := make(chan struct{})
	e.fakes["alpha"].setDefault(script{hold: hold})
	w := e.newWorker(t, func(c *worker.Config) { c.SlotWait = 20 * time.Millisecond; c.SlotLease = time.Minute })

	// Two holders crash while polling; their generations stay "running"
	// (never reported back), so nobody releases their slots.
	for range 2 {
		j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
		cctx, crash := context.WithCancel(ctx)
		done := make(chan string, 1)
		go func() { done <- deliver(cctx, t, w, msg, 1) }()
		e.wait(t, j.ID, func(j *job.Job) bool { return j.Attempts[0].Handle != "" })
		crash()
		require.Equal(t, "nack", <-done)
	}
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	require.Equal(t, "nack", deliver(ctx, t, w, msg, 1), "both slots still leased")

	e.clock.Advance(time.Minute)
	close(hold)
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2), "the crashed holders' leases expired")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
}

func TestSlotReleasedWhenTheOutcomeCommitsEvenIfThePublishNacks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := e.newWorker(t)
	j, msg := e.dispatched(t, "alpha", request(t, "a fox"))
	e.q.failTopic.Store(queue.TopicEvents)
	e.q.failures.Store(1)

	require.Equal(t, "nack", deliver(ctx, t, w, msg, 1), "the lifecycle publish failed")
	require.Equal(t, job.StatusSucceeded, e.job(t, j.ID).Status)
	require.Equal(t, freeSlots(2), e.slots(t, "alpha", 2), "the attempt is over: its slot is free at once")
	require.Equal(t, "ack", deliver(ctx, t, w, msg, 2))
	require.Len(t, e.lifecycles(t, j.ID), 1, "the redelivery publishes it")
}

// TestWaitingProjectGetsTheNextFreeSlot: with 4 slots, project A's backlog
// of 20 fills them all; project B then submits 2 jobs. Each slot A's
// generations free goes to B (A, above its share of 2 while B waits with
// less, cannot retake it) until B holds its share; then A gets its share
// back, and B's jobs finish while A's backlog is still running.
func TestWaitingProjectGetsTheNextFreeSlot(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cat, err := catalog.Parse([]byte(strings.Replace(testCatalog, `"concurrency": 2`, `"concurrency": 4`, 1)))
	require.NoError(t, err)
	e.cat = cat
	busy := &busyHolders{seen: map[string]bool{}}
	w := e.newWorker(t, busy.hook, func(c *worker.Config) { c.SlotWait = time.Minute })
	fake := e.fakes["alpha"]

	project := func(p string) func(*job.Job) { return func(j *job.Job) { j.ProjectID = p } }
	type proj struct {
		ids   []string
		holds []chan struct{}
	}
	verdicts := make(chan string, 22)
	queue := func(p string, n int) *proj {
		out := &proj{}
		for i := range n {
			prompt := fmt.Sprintf("%s job %d", p, i)
			hold := make(chan struct{})
			fake.on(prompt, script{hold: hold})
			j, msg := e.dispatched(t, "alpha", request(t, prompt), project(p))
			out.ids, out.holds = append(out.ids, j.ID), append(out.holds, hold)
			go func() { verdicts <- deliver(ctx, t, w, msg, 1) }()
		}
		return out
	}
	submitted := func(p *proj) (n int) {
		for _, id := range p.ids {
			n += fake.submitCount(id)
		}
		return n
	}
	// finish ends the first of p's generations still running.
	finish := func(p *proj) {
		for i, id := range p.ids {
			if j := e.job(t, id); j.Attempts[0].Handle != "" && !j.Status.Terminal() {
				close(p.holds[i])
				e.wait(t, id, terminal)
				return
			}
		}
		t.Fatal("no running generation to finish")
	}

	a := queue("proj-a", 20)
	require.Eventually(t, func() bool { return busy.count() == 16 }, 10*time.Second, time.Millisecond,
		"A alone takes every slot; its 16 other jobs wait")
	require.Equal(t, 4, submitted(a))
	b := queue("proj-b", 2)
	require.Eventually(t, func() bool { return busy.count() == 18 }, 10*time.Second, time.Millisecond, "B's jobs wait too")

	for want := 1; want <= 2; want++ {
		finish(a)
		require.Eventually(t, func() bool { return submitted(a) > 4 || submitted(b) >= want }, 10*time.Second, time.Millisecond)
		require.Equal(t, want, submitted(b), "the slot A's generation freed went to B")
		require.Equal(t, 4, submitted(a), "A did not retake it")
	}
	finish(a) // A holds 1 of its share of 2 now, B 2: A takes the slot back
	require.Eventually(t, func() bool { return submitted(a) == 5 }, 10*time.Second, time.Millisecond)

	for _, h := range b.holds {
		close(h)
	}
	for _, id := range b.ids {
		require.Equal(t, job.StatusSucceeded, e.wait(t, id, terminal).Status)
	}
	require.Less(t, submitted(a), 20, "B finished while A's backlog was still waiting")

	// B's waiting mark (10 s) lapses, as B has nothing left to wait for;
	// A's backlog drains on every slot.
	e.clock.Advance(30 * time.Second)
	for i, h := range a.holds {
		if !e.job(t, a.ids[i]).Status.Terminal() {
			close(h)
		}
	}
	for range 22 {
		require.Equal(t, "ack", <-verdicts)
	}
	for _, id := range a.ids {
		require.Equal(t, job.StatusSucceeded, e.job(t, id).Status)
	}
	require.Equal(t, 4, fake.peak(), "never more than the 4 slots at once")
	require.Equal(t, 22, fake.totalSubmits())
}
