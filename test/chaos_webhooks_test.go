package test

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// The chaos run's webhooks (issue 12): every job carries a webhook_url to
// chaosWebhooks, a receiver in the test process that verifies each request
// with the project's secret (rotated through the admin API before the
// run), answers 500 to the first request of about one event in ten (so
// retries happen while processes die) and 204 to the rest. The notifier
// processes are SIGKILLed with the others. At the end every terminal job
// must have had at least one validly signed webhook of its terminal status:
// duplicates are allowed (at-least-once) and counted, none may be lost.

// chaosWebhookRetries compresses the notifiers' retry schedule (Standard
// Webhooks' waits 5 s, then 5 min): a notifier killed during an event's
// first attempt leaves it to a second one, which may get the receiver's
// 500 on purpose, and the third must come while the run waits for the
// webhooks, not five minutes later.
var chaosWebhookRetries = []string{"AIPROD_WEBHOOK_RETRY_DELAYS=1s,2s,5s"}

// chaosEventsObserver is the test's own subscription to aiprod-events, so
// that it reads every lifecycle event without taking them from the
// notifiers (aiprod-notifier).
const chaosEventsObserver = "chaos-events-observer"

// chaosWebhooks is the receiver. Safe for concurrent use.
type chaosWebhooks struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	requests int
	invalid  []string             // why a request was refused
	failed   map[string]bool      // webhook-ids answered 500 on purpose
	valid    map[string]int       // webhook-id → validly signed requests answered 204
	byJob    map[string]string    // job id → the type of its delivered webhook
	firstAt  map[string]time.Time // job id → first valid delivery
}

func newChaosWebhooks(t *testing.T) *chaosWebhooks {
	h := &chaosWebhooks{failed: map[string]bool{}, valid: map[string]int{}, byJob: map[string]string{},
		firstAt: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// failsFirst: about one webhook-id in ten gets a 500 on its first request.
func failsFirst(id string) bool {
	f := fnv.New32a()
	_, _ = f.Write([]byte(id))
	return f.Sum32()%10 == 0
}

func (h *chaosWebhooks) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if err != nil {
		h.invalid = append(h.invalid, "read: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev, err := client.VerifyWebhook(h.secret, r.Header, body)
	id := r.Header.Get(webhook.HeaderID)
	switch {
	case err != nil:
		h.invalid = append(h.invalid, fmt.Sprintf("%s: %v", id, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	case id != notifier.WebhookID(ev.Data.ID, ev.Data.Status) || ev.Type != notifier.EventType(ev.Data.Status):
		h.invalid = append(h.invalid, fmt.Sprintf("%s: type %s, job %s %s", id, ev.Type, ev.Data.ID, ev.Data.Status))
		w.WriteHeader(http.StatusBadRequest)
		return
	case failsFirst(id) && !h.failed[id]:
		h.failed[id] = true
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.valid[id]++
	if _, ok := h.byJob[ev.Data.ID]; !ok {
		h.byJob[ev.Data.ID], h.firstAt[ev.Data.ID] = ev.Type, time.Now()
	}
	w.WriteHeader(http.StatusNoContent)
}

// setupWebhooks starts the receiver, rotates the dev project's webhook
// secret, points every job at the receiver and subscribes the test's
// observer to aiprod-events; before any submission.
func (r *chaosRun) setupWebhooks(ctx context.Context) {
	t := r.t
	r.hooks = newChaosWebhooks(t)
	admin := client.New(r.st.api, stackAdminKey)
	var rotated api.RotatedSecret
	require.NoError(t, admin.Do(ctx, http.MethodPost, "/v1/admin/projects/dev/webhook-secret", nil, &rotated))
	r.hooks.secret = rotated.Secret
	for _, cj := range r.jobs {
		cj.req.WebhookURL = r.hooks.srv.URL + "/hooks/" + cj.tag
	}
	q, err := r.emulatorQueue(ctx)
	require.NoError(t, err)
	defer q.Close()
	require.NoError(t, q.EnsureSubscription(ctx, queue.SubscriptionConfig{Name: chaosEventsObserver, Topic: queue.TopicEvents,
		AckDeadline: queue.AckDeadlineDefault}))
}

// waitWebhooks waits until every terminal job's webhook was delivered,
// while deliveries still arrive: it gives up after idle without a new
// one, or after limit.
func (r *chaosRun) waitWebhooks(idle, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, lastAt := -1, time.Now()
	for time.Now().Before(deadline) && time.Since(lastAt) < idle {
		want := 0
		for _, cj := range r.jobs {
			if cj.id != "" && cj.final != nil && cj.final.Status.Terminal() {
				want++
			}
		}
		r.hooks.mu.Lock()
		n := len(r.hooks.byJob)
		r.hooks.mu.Unlock()
		if n >= want {
			return
		}
		if n != last {
			last, lastAt = n, time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// webhookReport is what the receiver saw.
type webhookReport struct {
	delivered, duplicates, requests, refusedOnPurpose int
	invalid                                           []string
	missing                                           []string // terminal jobs without their delivered webhook
	p50, p95                                          time.Duration
	notifierKills                                     int64
}

func (r *chaosRun) webhookCheck() webhookReport {
	h := r.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	rep := webhookReport{requests: h.requests, refusedOnPurpose: len(h.failed), invalid: slices.Clone(h.invalid),
		notifierKills: r.notifierKills.Load()}
	for _, n := range h.valid {
		rep.duplicates += n - 1
	}
	var lag []time.Duration
	for _, cj := range r.jobs {
		j := cj.final
		if cj.id == "" || j == nil || !j.Status.Terminal() {
			continue
		}
		got, ok := h.byJob[cj.id]
		switch {
		case !ok:
			rep.missing = append(rep.missing, fmt.Sprintf("%s (%s)", cj.id, j.Status))
		case got != notifier.EventType(j.Status):
			rep.missing = append(rep.missing, fmt.Sprintf("%s (webhook %s, job %s)", cj.id, got, j.Status))
		default:
			rep.delivered++
			if j.CompletedAt != nil {
				lag = append(lag, h.firstAt[cj.id].Sub(*j.CompletedAt))
			}
		}
	}
	slices.Sort(lag)
	if n := len(lag); n > 0 {
		rep.p50, rep.p95 = lag[n*50/100], lag[min(n*95/100, n-1)]
	}
	return rep
}

func (w webhookReport) line() string {
	return fmt.Sprintf("%d delivered, %d missing, %d duplicates, %d invalid, %d requests (%d answered 500 on purpose); "+
		"first delivery after completion p50 %s, p95 %s; %d notifier SIGKILLs",
		w.delivered, len(w.missing), w.duplicates, len(w.invalid), w.requests, w.refusedOnPurpose,
		w.p50.Round(time.Millisecond), w.p95.Round(time.Millisecond), w.notifierKills)
}

// check fails t unless every terminal job's webhook was delivered, every
// request was valid and, when processes were killed, a notifier was.
func (w webhookReport) check(t *testing.T, kills bool) {
	assert.Empty(t, w.missing, "terminal jobs without a delivered, validly signed webhook")
	assert.Empty(t, w.invalid, "webhooks refused by the receiver (signature, id or type)")
	if kills {
		assert.Positive(t, w.notifierKills, "the notifier was SIGKILLed during the run")
	}
}
