package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
)

// deadLetters returns the messages dead-lettered from topic's subscription.
func (e *env) deadLetters(topic string) []queue.Message {
	return e.q.Published(queue.DeadLetterTopic(topic))
}

// A bug that panics while the router handles one job's message: the router
// keeps routing the others, and the poison message ends on aiprod-jobs-dlq
// with reason "panic" after consumer.MaxPanicsDefault tries.
func TestRouterPanicDeadLettersThePoisonAndServesTheRest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.pipeline(t)
	poison := e.ingestLater(t, "poison")
	e.st.panicOn.Store(poison.ID)
	e.publishJob(t, ctx, poison)
	var others []*job.Job
	for _, p := range []string{"a fox", "a cat", "a bird"} {
		others = append(others, e.ingest(t, ctx, request(t, p)))
	}
	for _, j := range others {
		require.Equal(t, job.StatusSucceeded, e.wait(t, j.ID, terminal).Status, "served despite the panics")
	}
	require.Eventually(t, func() bool { return len(e.deadLetters(queue.TopicJobs)) == 1 }, 10*time.Second, time.Millisecond)
	dl := e.deadLetters(queue.TopicJobs)[0]
	require.Equal(t, poison.ID, dl.Attr(queue.AttrJobID))
	require.Equal(t, consumer.ReasonPanic, dl.Attr(queue.AttrReason))
	require.Equal(t, queue.SubscriptionRouter, dl.Attr(queue.AttrSourceSub))
	require.Contains(t, dl.Attr(queue.AttrPanic), "store bug reading job "+poison.ID)
}

// A provider adapter that panics while a worker polls one generation: the
// worker keeps serving the other jobs of that backend, and the poison
// dispatch ends on its dead-letter topic with reason "panic".
func TestWorkerPanicDeadLettersThePoisonAndServesTheRest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fakes["alpha"].on("poison", script{pollPanics: true})
	e.pipeline(t)
	poison := e.ingest(t, ctx, request(t, "poison"))
	var others []*job.Job
	for _, p := range []string{"a fox", "a cat", "a bird"} {
		others = append(others, e.ingest(t, ctx, request(t, p)))
	}
	for _, j := range others {
		require.Equal(t, job.StatusSucceeded, e.wait(t, j.ID, terminal).Status, "served despite the panics")
	}
	topic := queue.DispatchTopic("alpha")
	require.Eventually(t, func() bool { return len(e.deadLetters(topic)) == 1 }, 10*time.Second, time.Millisecond)
	dl := e.deadLetters(topic)[0]
	require.Equal(t, poison.ID, dl.Attr(queue.AttrJobID))
	require.Equal(t, consumer.ReasonPanic, dl.Attr(queue.AttrReason))
	require.Equal(t, queue.WorkerSubscription("alpha"), dl.Attr(queue.AttrSourceSub))
	require.Contains(t, dl.Attr(queue.AttrPanic), "adapter bug polling")
	require.Equal(t, 1, e.fakes["alpha"].submitCount(poison.ID), "the redeliveries resumed the stored handle")
	require.Equal(t, job.StatusRunning, e.job(t, poison.ID).Status, "left to the stuck-job sweeper, not lost")
}
