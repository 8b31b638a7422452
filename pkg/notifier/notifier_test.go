package notifier_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/consumer"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/netguard/netguardtest"
	"github.com/aiprod/aiprod/pkg/notifier"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/webhook"
)

// verify checks one request as a receiver holding secret would, at the
// test's clock, and decodes it.
func (e *env) verify(d delivery, secret string) client.WebhookEvent {
	e.t.Helper()
	require.NoError(e.t, webhook.Verifier{Secret: secret, Now: e.clock.Now}.Verify(d.header, d.body))
	var ev client.WebhookEvent
	require.NoError(e.t, json.Unmarshal(d.body, &ev))
	return ev
}

// TestRetryKeepsTheWebhookID: a receiver answering 500 once then 200 gets
// the same webhook-id twice, each validly signed, the second 5 s later and
// from a restarted notifier (the schedule lives in the store); the job's
// timeline shows both attempts.
func TestRetryKeepsTheWebhookID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	j := e.terminalJob(job.StatusSucceeded, rcv.srv.URL+"/hooks?token=t0ps3cret")

	o := e.handle(e.notifier(), j, 1)
	require.Equal(t, consumer.VerdictNack, o.Verdict, "500: the message waits for the retry")
	require.True(t, o.Quiet)

	// Redelivered before the retry is due: nothing is sent.
	n2 := e.notifier()
	require.Equal(t, consumer.VerdictNack, e.handle(n2, j, 2).Verdict)
	require.Len(t, rcv.deliveries(), 1)

	e.clock.Advance(5 * time.Second)
	require.Equal(t, consumer.VerdictAck, e.handle(n2, j, 3).Verdict)
	// And a late redelivery of the delivered event sends nothing.
	require.Equal(t, consumer.VerdictAck, e.handle(e.notifier(), j, 4).Verdict)

	got := rcv.deliveries()
	require.Len(t, got, 2)
	id := got[0].header.Get(webhook.HeaderID)
	require.Equal(t, notifier.WebhookID(j.ID, job.StatusSucceeded), id)
	require.Equal(t, id, got[1].header.Get(webhook.HeaderID), "the same webhook-id on the retry")
	require.NotEqual(t, got[0].header.Get(webhook.HeaderTimestamp), got[1].header.Get(webhook.HeaderTimestamp))
	for _, d := range got {
		ev := e.verify(d, e.secret)
		require.Equal(t, client.WebhookJobSucceeded, ev.Type)
		require.Equal(t, api.PublicJob(j), ev.Data, "data is the job as GET /v1/jobs/{id} shows it")
		require.True(t, ev.Timestamp.Equal(*j.CompletedAt))
		require.Equal(t, "application/json", d.header.Get("Content-Type"))
	}

	evs := e.events(j.ID)
	require.Len(t, evs, 2)
	require.Equal(t, notifier.EventRetrying, evs[0].Type)
	require.Contains(t, evs[0].Message, "500 Internal Server Error")
	require.Contains(t, evs[0].Message, "next attempt at")
	require.Equal(t, notifier.EventDelivered, evs[1].Type)
	for _, ev := range evs {
		require.NotContains(t, ev.Message, "t0ps3cret", "no query string in events")
	}
	require.NotContains(t, e.logs.String(), "t0ps3cret", "no query string in logs")
}

// TestGoneStopsAtOnce: a receiver answering 410 is called once, whatever
// is redelivered afterwards.
func TestGoneStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusGone)
	j := e.terminalJob(job.StatusFailed, rcv.srv.URL)
	n := e.notifier()
	require.Equal(t, consumer.VerdictAck, e.handle(n, j, 1).Verdict)
	require.Equal(t, client.WebhookJobFailed, e.verify(rcv.deliveries()[0], e.secret).Type)
	e.clock.Advance(time.Hour)
	require.Equal(t, consumer.VerdictAck, e.handle(n, j, 2).Verdict)
	require.EqualValues(t, 1, rcv.calls.Load())
	evs := e.events(j.ID)
	require.Len(t, evs, 1)
	require.Equal(t, notifier.EventGone, evs[0].Type)
}

// TestRetriesEndAfter24Hours: a receiver that always fails is tried on the
// schedule for 24 h (8 attempts), then the delivery has failed, which the
// timeline says; the message is acked.
func TestRetriesEndAfter24Hours(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusServiceUnavailable)
	j := e.terminalJob(job.StatusCanceled, rcv.srv.URL)
	n := e.notifier()
	start := e.clock.Now()
	var at []time.Duration
	for i := 1; i < 50; i++ {
		before := rcv.calls.Load()
		o := e.handle(n, j, 1)
		require.Equal(t, before+1, rcv.calls.Load(), "each delivery at the due time makes one attempt")
		at = append(at, e.clock.Now().Sub(start))
		require.Equal(t, client.WebhookJobCanceled, e.verify(rcv.deliveries()[i-1], e.secret).Type)
		if o.Acked() {
			break
		}
		// A redelivery just before the due time sends nothing.
		d := e.state(notifier.WebhookID(j.ID, job.StatusCanceled))
		e.clock.Advance(d.NextAttemptAt.Sub(e.clock.Now()) - time.Second)
		require.Equal(t, consumer.VerdictNack, e.handle(n, j, 2).Verdict)
		require.Equal(t, before+1, rcv.calls.Load())
		e.clock.Advance(time.Second)
	}
	require.Equal(t, []time.Duration{0, 5 * time.Second, 5*time.Minute + 5*time.Second, 35*time.Minute + 5*time.Second,
		2*time.Hour + 35*time.Minute + 5*time.Second, 7*time.Hour + 35*time.Minute + 5*time.Second,
		17*time.Hour + 35*time.Minute + 5*time.Second, 24 * time.Hour}, at)
	evs := e.events(j.ID)
	require.Len(t, evs, 8)
	for _, ev := range evs[:7] {
		require.Equal(t, notifier.EventRetrying, ev.Type)
	}
	require.Equal(t, notifier.EventFailed, evs[7].Type)
	require.Contains(t, evs[7].Message, "retries over")
	require.Equal(t, store.WebhookFailed, e.state(notifier.WebhookID(j.ID, job.StatusCanceled)).Outcome)
}

// TestRotationOverlapSignatures: during the 24 h after a rotation a webhook
// carries two signatures and verifies with either secret; afterwards one.
func TestRotationOverlapSignatures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	old := e.secret
	fresh, err := e.ring.Rotate(context.Background(), project)
	require.NoError(t, err)
	rcv := newReceiver(t, http.StatusNoContent)
	n := e.notifier()

	j1 := e.terminalJob(job.StatusSucceeded, rcv.srv.URL)
	require.True(t, e.handle(n, j1, 1).Acked())
	e.clock.Advance(24*time.Hour + time.Second)
	j2 := e.terminalJob(job.StatusSucceeded, rcv.srv.URL)
	require.True(t, e.handle(n, j2, 1).Acked())

	got := rcv.deliveries()
	require.Len(t, got, 2)
	require.Len(t, strings.Fields(got[0].header.Get(webhook.HeaderSignature)), 2)
	e.clock.Advance(-24*time.Hour - time.Second)
	e.verify(got[0], fresh)
	e.verify(got[0], old)
	e.clock.Advance(24*time.Hour + time.Second)
	require.Len(t, strings.Fields(got[1].header.Get(webhook.HeaderSignature)), 1)
	e.verify(got[1], fresh)
	require.ErrorIs(t, webhook.Verifier{Secret: old, Now: e.clock.Now}.Verify(got[1].header, got[1].body), webhook.ErrNoMatch)
	e.secret = fresh // the log check of setup
	require.NotContains(t, e.logs.String(), strings.TrimPrefix(old, webhook.SecretPrefix))
}

// TestRedirectsAreNotFollowed: a 302 (here to loopback, as an attacker
// would aim it) is a failed attempt; its target is never called.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	target := newReceiver(t, http.StatusOK)
	redirector := httptest.NewServer(http.RedirectHandler(target.srv.URL+"/metadata", http.StatusFound))
	t.Cleanup(redirector.Close)
	j := e.terminalJob(job.StatusSucceeded, redirector.URL)
	require.Equal(t, consumer.VerdictNack, e.handle(e.notifier(), j, 1).Verdict)
	require.Zero(t, target.calls.Load())
	evs := e.events(j.ID)
	require.Len(t, evs, 1)
	require.Contains(t, evs[0].Message, "redirects are not followed")
}

// TestHugeAnswerIsBounded: a receiver streaming an endless body after its
// 200 is read only up to MaxResponseBytes: the attempt ends, delivered.
func TestHugeAnswerIsBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.cfg.MaxResponseBytes = 1 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	j := e.terminalJob(job.StatusSucceeded, srv.URL)
	require.Equal(t, consumer.VerdictAck, e.handle(e.notifier(), j, 1).Verdict)
	require.Equal(t, notifier.EventDelivered, e.events(j.ID)[0].Type)
}

// TestNoAnswerIsAFailure: a receiver that does not answer within Timeout
// fails the attempt, which is retried.
func TestNoAnswerIsAFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.cfg.Timeout = 50 * time.Millisecond
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	j := e.terminalJob(job.StatusSucceeded, srv.URL)
	require.Equal(t, consumer.VerdictNack, e.handle(e.notifier(), j, 1).Verdict)
	evs := e.events(j.ID)
	require.Len(t, evs, 1)
	require.Equal(t, notifier.EventRetrying, evs[0].Type)
	require.Contains(t, evs[0].Message, "no answer within 50ms")
}

// TestSecretNeverLogged: with logs at debug level through delivered,
// retried and refused attempts, the log shows the attempts but neither the
// signing secrets nor the signatures, nor the webhook URL's query.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	e := setup(t)
	prev := e.secret
	cur, err := e.ring.Rotate(context.Background(), project)
	require.NoError(t, err)
	e.secret = cur
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusGone)
	n := e.notifier()
	j := e.terminalJob(job.StatusSucceeded, rcv.srv.URL+"/?sig=querytoken")
	require.False(t, e.handle(n, j, 1).Acked())
	e.clock.Advance(5 * time.Second)
	require.True(t, e.handle(n, j, 2).Acked())

	logs := e.logs.String()
	require.Contains(t, logs, `"message":"webhook attempt"`)
	require.Contains(t, logs, notifier.WebhookID(j.ID, j.Status))
	leaks := []string{strings.TrimPrefix(prev, webhook.SecretPrefix), strings.TrimPrefix(cur, webhook.SecretPrefix), "querytoken"}
	for _, d := range rcv.deliveries() {
		for _, sig := range strings.Fields(d.header.Get(webhook.HeaderSignature)) {
			leaks = append(leaks, strings.TrimPrefix(sig, "v1,"))
		}
	}
	for _, s := range leaks {
		require.NotContains(t, logs, s)
		for _, ev := range e.events(j.ID) {
			require.NotContains(t, ev.Message, s)
		}
	}
}

// TestPrivateDestinationRefused: through the network guard, a webhook host
// that resolves to a public address is delivered, and the same host once
// its DNS answers a private address (rebinding) is refused at dial time:
// the delivery fails at once, recorded, and the receiver is never called.
func TestPrivateDestinationRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t, http.StatusOK)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(rcv.srv.URL, "http://"))
	require.NoError(t, err)
	nw := netguardtest.New(strings.TrimPrefix(rcv.srv.URL, "http://")).
		Answer("hooks.example.com", netguardtest.PublicAddr).
		Answer("hooks.example.com", "127.0.0.1")
	policy := nw.Policy()
	tr := policy.Transport()
	tr.DisableKeepAlives = true // a dial, and a lookup, per request
	e.cfg.Client = &http.Client{Transport: tr}
	n := e.notifier()
	url := "http://hooks.example.com:" + port + "/hook"

	first := e.terminalJob(job.StatusSucceeded, url)
	require.True(t, e.handle(n, first, 1).Acked())
	require.Equal(t, notifier.EventDelivered, e.events(first.ID)[0].Type)

	second := e.terminalJob(job.StatusSucceeded, url)
	require.True(t, e.handle(n, second, 1).Acked(), "refused: no retry")
	evs := e.events(second.ID)
	require.Len(t, evs, 1)
	require.Equal(t, notifier.EventFailed, evs[0].Type)
	require.Contains(t, evs[0].Message, "loopback")
	require.EqualValues(t, 1, rcv.calls.Load(), "the receiver got the first webhook only")
	require.Equal(t, []string{netguardtest.PublicAddr + ":" + port}, nw.Dialed())
}
