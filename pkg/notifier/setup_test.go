package notifier_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/dispatch"
	"github.com/aiprod/aiprod/pkg/internal/fake"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/memqueue"
	"github.com/aiprod/aiprod/pkg/secretbox"
	"github.com/aiprod/aiprod/pkg/sim"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
	"github.com/aiprod/aiprod/pkg/store/storetest"
	"github.com/aiprod/aiprod/pkg/telemetry"
	"github.com/aiprod/aiprod/pkg/webhook"
	"github.com/aiprod/aiprod/pkg/webhooksecrets"
)

const project = "acme"

// env is a notifier over a memstore and memqueue, a fake clock, a
// project secret rotated through the keyring, and a captured log.
type env struct {
	t      *testing.T
	st     *memstore.Store
	q      *memqueue.Queue
	clock  *sim.ManualClock
	ring   *webhooksecrets.Keyring
	secret string
	logs   *fake.Buffer
	cfg    notifier.Config
}

func setup(t *testing.T) *env {
	t.Helper()
	box, err := secretbox.Parse(secretbox.NewKey())
	require.NoError(t, err)
	e := &env{t: t, st: memstore.New(), q: memqueue.New(memqueue.WithBackoff(time.Millisecond, 10*time.Millisecond)), logs: &fake.Buffer{},
		clock: sim.NewManualClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))}
	e.ring, err = webhooksecrets.New(webhooksecrets.Config{Store: e.st, Box: box, Now: e.clock.Now})
	require.NoError(t, err)
	e.secret, err = e.ring.Rotate(context.Background(), project)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, queue.Provision(ctx, e.q, queue.Topology(nil)))
	e.cfg = notifier.Config{Queue: e.q, Store: e.st, Secrets: e.ring, Now: e.clock.Now,
		Logger: telemetry.Logger(e.logs, "", slog.LevelDebug), HoldMax: time.Millisecond, BusyDelay: 10 * time.Millisecond}
	t.Cleanup(func() {
		key := strings.TrimPrefix(e.secret, webhook.SecretPrefix)
		if strings.Contains(e.logs.String(), key) {
			t.Errorf("the log holds the signing secret")
		}
	})
	return e
}

// notifier builds a Notifier of e.cfg (a new one is a restarted process).
func (e *env) notifier() *notifier.Notifier {
	e.t.Helper()
	n, err := notifier.New(e.cfg)
	require.NoError(e.t, err)
	return n
}

// terminalJob stores a job of project that reached status, with a webhook
// to url.
func (e *env) terminalJob(status job.Status, url string) *job.Job {
	e.t.Helper()
	req := job.Request{Prompt: "a red fox running through snow", DurationSeconds: 5, WebhookURL: url}
	req.ApplyDefaults()
	j := job.New("", project, req, e.clock.Now().Add(-time.Minute))
	j.Status = status
	done := e.clock.Now()
	j.CompletedAt, j.UpdatedAt = &done, done
	switch status {
	case job.StatusSucceeded:
		j.Result = &job.Result{VideoURL: "https://videos.example/" + j.ID + ".mp4", DurationSeconds: 5}
	case job.StatusFailed:
		j.Error = &job.ErrorInfo{Code: job.CodeBackendFailed, Message: "every backend failed"}
	}
	out, _, err := storetest.CreateJob(context.Background(), e.st, j)
	require.NoError(e.t, err)
	return out
}

// lifecycle is the lifecycle message of j as a delivery of the
// subscription (attempt delivery, 1-based).
func lifecycle(t *testing.T, j *job.Job, delivery int) *queue.Message {
	t.Helper()
	data, err := json.Marshal(dispatch.LifecycleOf(j))
	require.NoError(t, err)
	return queue.NewReceived(queue.Message{ID: "m-" + j.ID, Data: data, DeliveryAttempt: delivery,
		Attributes: dispatch.JobAttributes(j.ID, j.ProjectID, 0)}, func() {}, func() {})
}

// handle delivers j's lifecycle message to n once.
func (e *env) handle(n *notifier.Notifier, j *job.Job, delivery int) consumer.Outcome {
	e.t.Helper()
	return n.Handle(context.Background(), lifecycle(e.t, j, delivery))
}

// events returns the notifier's events of job id.
func (e *env) events(id string) []store.Event {
	e.t.Helper()
	all, err := e.st.ListEvents(context.Background(), id)
	require.NoError(e.t, err)
	var out []store.Event
	for _, ev := range all {
		if ev.Stage == notifier.Stage {
			out = append(out, ev)
		}
	}
	return out
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a webhook receiver answering from a script of statuses (the
// last one repeats), recording every request.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	script []int
	calls  atomic.Int64
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{script: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		n := int(r.calls.Add(1))
		r.mu.Lock()
		r.got = append(r.got, delivery{header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		w.WriteHeader(r.script[min(n, len(r.script))-1])
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// state reads the delivery state of webhook id.
func (e *env) state(id string) store.WebhookDelivery {
	e.t.Helper()
	var d store.WebhookDelivery
	require.NoError(e.t, e.st.RunTx(context.Background(), func(tx store.Tx) (err error) {
		d, err = tx.GetWebhookDelivery(id)
		return err
	}))
	return d
}
